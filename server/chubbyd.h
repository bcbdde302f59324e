/*
 * chubbyd.h: the daemon's context, shared by its shells (RPC, peers,
 * status).  One struct chubbyd per process: it is one replica of a cell.
 */
#ifndef CHUBBY_CHUBBYD_H
#define CHUBBY_CHUBBYD_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct cell_config;
struct cell_replica;
struct tls_ctx;
struct tp;
struct rpc;
struct replica;
struct status_http;
struct session_mgr;
struct svc;
struct mirror_set;

struct chubbyd {
	struct event_base *base;
	struct cell_config *cfg;
	const struct cell_replica *self;
	unsigned id;
	char *data_dir;
	int lock_fd; /* flock on data_dir/LOCK: one daemon per data directory */

	struct tls_ctx *tls_server; /* what we present to clients and peers that dial us */
	struct tp *tp_accept;       /* transport for accepted connections */
	struct rpc *rpc;            /* the client port */
	struct replica *replica;    /* Paxos, the store and the peer links */
	struct session_mgr *sessions; /* the master's sessions, KeepAlives, waiters */
	struct svc *svc;            /* Chubby's calls, served over the sessions */
	uint8_t *seq_key;           /* sequencer signing key (NULL: unsigned) */
	size_t seq_key_len;
	struct status_http *status; /* HTTP /health, /metrics, /status */
	struct dnswatch *dns;       /* the master follows replicas' DNS names (NULL: none) */
	struct mirror_set *mirrors; /* the master copies other cells' subtrees (NULL: none) */

	uint64_t started_mono_ms;
	const char *config_path;
};

/*
 * Reads the TLS files named in the config again (certificate, key, CA
 * bundle, CRL) for the client port and the peer port: new connections use
 * them, live ones keep theirs, except those whose peer the new CRL revokes,
 * which are closed.  On SIGHUP and the RELOAD admin op.  Returns CHUBBY_OK
 * with a summary in MSG; else the reason, naming the file, and the old
 * files stay in use.
 */
int chubbyd_reload_tls(struct chubbyd *d, char *msg, size_t msglen);

/* Takes the flock on data_dir/LOCK (again): one daemon per data directory.
 * Returns 0, or -1 with the reason in ERR. */
int chubbyd_lock_data_dir(struct chubbyd *d, char *err, size_t errlen);

#endif
