/*
 * pxhttp.h: chubby-proxy's HTTP endpoint (--status HOST:PORT), as a
 * replica's status address is for chubbyd: /metrics in the Prometheus text
 * format (the proxy's sessions, cache, relayed invalidations, KeepAlives
 * absorbed, requests forwarded, its lease under load, the upstream's state,
 * process_*) and /health for load balancers and probes (200 while the
 * proxy has a master to forward to, 503 with the reason otherwise).
 * Read-only, plain HTTP: for loopback or a management network.
 */
#ifndef CHUBBY_PXHTTP_H
#define CHUBBY_PXHTTP_H

#include <stddef.h>

struct proxy;
struct pxhttp;

/* Listens on ADDR (HOST:PORT); NULL with the reason in ERR. */
struct pxhttp *pxhttp_new(struct proxy *p, const char *addr, char *err, size_t errlen);
void pxhttp_free(struct pxhttp *h);

#endif
