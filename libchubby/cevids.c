/* cevids.c: the client's dedupe of events sent again and its ev_ack
 * (cevids.h).  Pure. */
#include "config.h"

#include "cevids.h"

void
cevids_reset(struct cevids *v)
{
	v->epoch = 0;
	v->high = 0;
}

uint64_t
cevids_ack(const struct cevids *v, uint64_t epoch)
{
	return epoch == v->epoch ? v->high : 0;
}

bool
cevids_accept(struct cevids *v, uint64_t epoch, bool has_id, uint64_t id)
{
	if (epoch < v->epoch)
		/* A late reply of an older master: its ids are not ours to
		 * count, and must not make us forget the current ones. */
		return true;
	if (epoch > v->epoch) {
		/* A newer master: its ids start afresh (and the old one's
		 * events are lost with it; MASTER_FAILOVER says so). */
		v->epoch = epoch;
		v->high = 0;
	}
	if (!has_id)
		return true; /* a master before ids: no copies are sent */
	if (id <= v->high)
		return false;
	v->high = id;
	return true;
}
