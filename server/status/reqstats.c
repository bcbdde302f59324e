/* reqstats.c: client requests by op and status, latency by op. */
#include "config.h"

#include "status/reqstats.h"

#define REQSTATS_OP_NUM(name, num) num,
#define REQSTATS_OP_NAME(name, num) #name,
#define REQSTATS_ST_NUM(name, num, msg) num,
#define REQSTATS_ST_NAME(name, num, msg) #name,

static const unsigned reqstats_ops[REQSTATS_NOPS - 1] = {PROTO_OP_LIST(REQSTATS_OP_NUM)};
static const char *const reqstats_op_names[REQSTATS_NOPS] = {
    PROTO_OP_LIST(REQSTATS_OP_NAME) "UNKNOWN"};
static const int reqstats_sts[REQSTATS_NSTATUS - 1] = {CHUBBY_STATUS_LIST(REQSTATS_ST_NUM)};
static const char *const reqstats_st_names[REQSTATS_NSTATUS] = {
    CHUBBY_STATUS_LIST(REQSTATS_ST_NAME) "E_UNKNOWN"};

static unsigned
reqstats_op_index(unsigned op)
{
	unsigned i;

	for (i = 0; i < REQSTATS_NOPS - 1 && reqstats_ops[i] != op; i++)
		;
	return i; /* REQSTATS_NOPS - 1: unknown */
}

static unsigned
reqstats_status_index(int status)
{
	unsigned j;

	for (j = 0; j < REQSTATS_NSTATUS - 1 && reqstats_sts[j] != status; j++)
		;
	return j;
}

void
reqstats_note(struct reqstats *s, unsigned op, int status, uint64_t us)
{
	unsigned i = reqstats_op_index(op);

	s->n[i][reqstats_status_index(status)]++;
	lat_hist_observe(&s->lat[i], us);
}

const char *
reqstats_op_name(unsigned i)
{
	return i < REQSTATS_NOPS ? reqstats_op_names[i] : "UNKNOWN";
}

const char *
reqstats_status_name(unsigned j)
{
	return j < REQSTATS_NSTATUS ? reqstats_st_names[j] : "E_UNKNOWN";
}

uint64_t
reqstats_total(const struct reqstats *s)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < REQSTATS_NOPS; i++)
		for (unsigned j = 0; j < REQSTATS_NSTATUS; j++)
			t += s->n[i][j];
	return t;
}
