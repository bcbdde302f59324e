/*
 * proxy.h: chubby-proxy's shell (docs/PROXY.md): the daemon state shared by
 * the client side (proxy.c: the TLS listener speaking the client protocol)
 * and the upstream side (pxup.c: one connection to the master, one
 * session there per client principal).  The decisions are pxcore's.
 */
#ifndef CHUBBY_PROXY_H
#define CHUBBY_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <msgpack.h>

#include "cellconfig.h"
#include "conn.h"
#include "pxcore.h"
#include "pxload.h"
#include "wire.h"

struct pconn;

/* A request sent (or waiting to be sent) upstream. */
enum fwd_kind {
	FK_CLIENT,     /* a client's request, forwarded */
	FK_CSTART,     /* a client SESSION_START waiting for its upstream session */
	FK_UP_START,   /* the upstream SESSION_START of a principal */
	FK_UP_KA,      /* the upstream KEEPALIVE of a principal */
	FK_CLIENT_END, /* CLIENT_END of a client session */
	FK_CLAIM,      /* CLAIM of a client session the proxy does not know */
	FK_CLAIMWAIT,  /* a client request waiting for its session's claim */
	FK_WHERE,      /* WHERE_IS_MASTER while locating the master */
};

struct fwd {
	struct fwd *next, *prev;       /* all of them (proxy.fwds) */
	struct fwd *pc_next, *pc_prev; /* those of a client connection */
	struct fwd *id_next;           /* in proxy.byid's chain, while sent */
	enum fwd_kind kind;
	uint64_t id; /* upstream request id; 0: not sent */
	uint32_t op;
	bool session_scoped; /* rewrite session, epoch */
	struct pconn *pc;    /* the client connection to answer, or NULL */
	uint64_t creq;       /* the client's request id */
	uint64_t client;     /* the client session */
	struct px_up *up;
	uint64_t urid;
	/* The client's args, without session, epoch, rid, rid_floor, client:
	 * NPAIRS key/value pairs packed in ARGS. */
	msgpack_sbuffer args;
	uint32_t npairs;
	/* GET_CONTENTS through the cache; OPEN's path and flags. */
	char *path;
	uint64_t token;
	bool cache, cache_read;
	uint32_t flags;
	uint64_t nonce;
	bool expired; /* CLIENT_END */
	bool reclaim; /* CLAIM of a client of ours whose upstream session expired */
	uint64_t sent_ms;
};

/* A client KEEPALIVE held at the proxy. */
struct held {
	struct held *next, *prev; /* all of them */
	struct pconn *pc;
	uint64_t creq;
	uint64_t client;
	uint64_t since;
	struct event *ev; /* its deadline, or NULL: held until the master is back */
	struct proxy *p;
};

struct pconn {
	struct pconn *next, *prev;
	struct proxy *p;
	struct conn *conn;
	bool hello;
	char principal[65];
	struct fwd *fwds;
};

enum up_conn_state { UPC_DOWN, UPC_CONNECTING, UPC_LOCATING, UPC_READY };

struct proxy {
	struct event_base *base;
	struct cell_config *cfg;
	const char *listen;
	struct tls_ctx *tls_srv, *tls_cli;
	struct tp *tp_srv, *tp_cli;
	struct evconnlistener *listener;
	struct pxcore px;
	struct pxload load; /* leases under load */
	struct wire_buf out;
	struct pconn *conns;
	size_t nconns;
	struct fwd *fwds;
	/* The requests sent upstream by id (a chained table, power of two):
	 * each answer finds its request without a walk of them all. */
	struct fwd **byid;
	size_t nbyid, capbyid;
	struct held *helds;
	struct event *tick, *sigint, *sigterm;
	uint64_t started_ms;
	/* Upstream. */
	struct conn *up;
	enum up_conn_state upc;
	unsigned try_idx;   /* replica to try next */
	char up_addr[CONFIG_ADDR_MAX];
	char master_hint[CONFIG_ADDR_MAX]; /* where WHERE_IS_MASTER pointed */
	uint64_t next_id;
	uint64_t retry_at; /* ms: next connection attempt */
	uint64_t forwarded, claims;
	struct pxhttp *http; /* --status: /metrics and /health (pxhttp.h) */
};

uint64_t proxy_now(void);
/* The shortest lease left (ms) among the proxy's upstream sessions, 0 for
 * one not holding; -1 with none. */
int64_t proxy_upstream_lease_left(const struct proxy *p, uint64_t now);

/* pxup.c */
/* Takes F out of the table of sent requests (it is answered or freed). */
void pxup_unindex(struct proxy *p, struct fwd *f);
void pxup_start(struct proxy *p);
void pxup_tick(struct proxy *p, uint64_t now);
/* Queues F upstream and sends it if the master is reachable. */
void pxup_submit(struct proxy *p, struct fwd *f);
/* The upstream session for PRINCIPAL, started if need be. */
struct px_up *pxup_session(struct proxy *p, const char *principal);
/* Sends the principal's KEEPALIVE now (acks to deliver). */
void pxup_keepalive_now(struct proxy *p, struct px_up *up);
/* Sends what waited (for the master, an upstream session, or a claim). */
void pxup_send_waiting(struct proxy *p);
void pxup_free(struct proxy *p);

/* proxy.c, for pxup.c */
void proxy_fwd_free(struct proxy *p, struct fwd *f);
/* The answer of F's upstream request (M a RES), or STATUS with M NULL. */
void proxy_fwd_done(struct proxy *p, struct fwd *f, int status, const struct wire_msg *m);
/* Clients of UP waiting for it to start (it did, or failed with STATUS). */
void proxy_up_ready(struct proxy *p, struct px_up *up, int status);
/* Answers the held KeepAlives pxcore woke. */
void proxy_answer_wakes(struct proxy *p);
/* CLAIMs client session CLIENT of UP onto UP's next upstream session
 * (UP's session expired at the master: px_up_lost). */
void proxy_reclaim(struct proxy *p, struct px_up *up, uint64_t client);
/* UP's new upstream SESSION_START was refused with STATUS: its clients
 * waiting for a claim are told their sessions expired, and the claims of
 * other proxies' clients waiting for it are answered STATUS. */
void proxy_up_refused(struct proxy *p, struct px_up *up, int status);
/* The master's epoch changed: held KeepAlives learn the new one. */
void proxy_epoch_changed(struct proxy *p);

#endif
