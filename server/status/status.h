/*
 * status.h: each replica's HTTP status endpoint (libevent's evhttp) on its
 * status address: / a status page for people (status/page.h), /health for
 * load balancers and probes, /metrics in the Prometheus text format,
 * /status as JSON.  Read-only; plain HTTP on
 * loopback or a management network (it reveals no data, only state).
 * It also measures the event loop's lag (status/looplag.h) for /metrics,
 * /status and the STATUS call.
 */
#ifndef CHUBBY_STATUS_H
#define CHUBBY_STATUS_H

#include <stddef.h>

struct chubbyd;
struct status_http;

struct status_http *status_http_new(struct chubbyd *d, char *err, size_t errlen);
void status_http_free(struct status_http *s);
/* The largest event loop lag of the last LOOPLAG_WINDOW_S seconds, in ms
 * rounded up (0 before the status endpoint exists). */
uint64_t status_loop_lag_max_ms(const struct status_http *s);

#endif
