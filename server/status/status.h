/*
 * status.h: each replica's HTTP status endpoint (libevent's evhttp) on its
 * status address: /health for load balancers and probes, /metrics in the
 * Prometheus text format, /status as JSON.  Read-only; plain HTTP on
 * loopback or a management network (it reveals no data, only state).
 */
#ifndef CHUBBY_STATUS_H
#define CHUBBY_STATUS_H

#include <stddef.h>

struct chubbyd;
struct status_http;

struct status_http *status_http_new(struct chubbyd *d, char *err, size_t errlen);
void status_http_free(struct status_http *s);

#endif
