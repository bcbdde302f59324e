/* httpd.c: a small read-only HTTP endpoint (httpd.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "httpd.h"

struct evhttp *
httpd_listen(struct event_base *base, const char *addr,
    void (*cb)(struct evhttp_request *, void *), void *arg, char *err, size_t errlen)
{
	struct evhttp *http;
	char host[256];
	unsigned port;

	if (config_parse_hostport(addr, host, sizeof host, &port, err, errlen) != CHUBBY_OK)
		return NULL;
	if ((http = evhttp_new(base)) == NULL) {
		snprintf(err, errlen, "cannot create the HTTP server");
		return NULL;
	}
	evhttp_set_max_headers_size(http, 8192);
	evhttp_set_max_body_size(http, 1024);
	evhttp_set_timeout(http, 10);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(http, cb, arg);
	if (evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port) == NULL) {
		snprintf(err, errlen, "cannot listen on %s", addr);
		evhttp_free(http);
		return NULL;
	}
	return http;
}

void
httpd_reply(struct evhttp_request *req, int code, const char *reason, const char *ctype,
    const char *body)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	if (b != NULL)
		evbuffer_add(b, body, strlen(body));
	evhttp_send_reply(req, code, reason, b);
	if (b != NULL)
		evbuffer_free(b);
}
