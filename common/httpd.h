/*
 * httpd.h: a small read-only HTTP endpoint on libevent's evhttp, as
 * chubbyd's status address and chubby-proxy's --status serve one: GET and
 * HEAD only, small bounded requests (it is not a data path), replies that
 * are never cached.
 */
#ifndef CHUBBY_HTTPD_H
#define CHUBBY_HTTPD_H

#include <stddef.h>

#include <event2/event.h>
#include <event2/http.h>

/* Listens on ADDR (HOST:PORT) and hands every request to CB; NULL with the
 * reason in ERR. */
struct evhttp *httpd_listen(struct event_base *base, const char *addr,
    void (*cb)(struct evhttp_request *, void *), void *arg, char *err, size_t errlen);
/* Sends BODY (a string) with CODE, REASON and content type CTYPE. */
void httpd_reply(struct evhttp_request *req, int code, const char *reason, const char *ctype,
    const char *body);

#endif
