/* dnswatch.c: the master follows replicas' DNS names (see dnswatch.h). */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "chubbyd.h"
#include "dnswatch.h"
#include "log.h"
#include "ns/ns.h"
#include "replica.h"
#include "xmalloc.h"

/* One lookup of one replica's name. */
struct dw_lookup {
	struct dnswatch *w;
	unsigned id;
	struct evdns_getaddrinfo_request *req; /* NULL when none is out */
	char last_err[256];                    /* the last failure logged, to log each once */
};

struct dnswatch {
	struct chubbyd *d;
	struct evdns_base *dns;
	struct event *timer;
	struct dw_lookup lk[CONFIG_MAX_REPLICAS];
	unsigned nlk;
	bool moving; /* a move proposed, its outcome not known yet: one at a time */
};

static void
dw_move_done(int status, const struct ns_result *res, void *arg)
{
	struct dw_lookup *l = arg;

	(void)res;
	l->w->moving = false;
	if (status == CHUBBY_OK)
		log_info("dns: replica %u moved through the log", l->id);
	else
		log_warn("dns: the move of replica %u did not apply (%s); the next poll tries again",
		    l->id, chubby_status_name(status));
}

/* HOST as config_parse_hostport wants it: IPv6 in brackets. */
static void
dw_hostport(char *out, size_t len, const char *host, bool v6, unsigned port)
{
	if (v6)
		snprintf(out, len, "[%s]:%u", host, port);
	else
		snprintf(out, len, "%s:%u", host, port);
}

/* NAME of replica L->id now names HOST: move the replica there if that is
 * not where the cell has it. */
static void
dw_resolved(struct dw_lookup *l, const char *host, bool v6)
{
	struct dnswatch *w = l->w;
	struct chubbyd *d = w->d;
	const struct cell_replica *cr = config_replica(d->cfg, l->id);
	const char *cur[3];
	char h[CONFIG_ADDR_MAX], addr[3][CONFIG_ADDR_MAX], msg[256];
	char *addrp[3] = {addr[0], addr[1], addr[2]};
	unsigned port[3];
	int rc;

	if (cr == NULL || d->replica == NULL || !replica_is_master(d->replica) || w->moving)
		return;
	cur[0] = cr->client_addr;
	cur[1] = cr->peer_addr;
	cur[2] = cr->status_addr;
	for (int k = 0; k < 3; k++)
		if (config_parse_hostport(cur[k], h, sizeof h, &port[k], NULL, 0) != CHUBBY_OK)
			return;
	(void)config_parse_hostport(cr->peer_addr, h, sizeof h, &port[1], NULL, 0);
	if (config_same_host(h, host))
		return; /* the cell has it there already */
	for (int k = 0; k < 3; k++)
		dw_hostport(addr[k], sizeof addr[k], host, v6, port[k]);
	rc = config_check_move(d->cfg, l->id, addrp, msg, sizeof msg);
	if (rc != CHUBBY_OK) {
		if (strcmp(l->last_err, msg) != 0) {
			log_warn("dns: %s names %s, but replica %u cannot move there: %s",
			    cr->dns_name, host, l->id, msg);
			snprintf(l->last_err, sizeof l->last_err, "%s", msg);
		}
		return;
	}
	log_info("dns: %s now names %s (replica %u is at %s): moving replica %u there through "
		 "the log",
	    cr->dns_name, host, l->id, cr->peer_addr, l->id);
	w->moving = true;
	rc = replica_move(d->replica, l->id, addr[0], addr[1], addr[2], dw_move_done, l);
	if (rc != CHUBBY_OK) {
		w->moving = false;
		log_warn("dns: the move of replica %u was not proposed (%s)", l->id,
		    chubby_status_name(rc));
	}
	l->last_err[0] = '\0';
}

static void
dw_on_addrinfo(int result, struct evutil_addrinfo *res, void *arg)
{
	struct dw_lookup *l = arg;
	const struct cell_replica *cr = config_replica(l->w->d->cfg, l->id);
	char host[INET6_ADDRSTRLEN] = "";
	bool v6 = false;

	l->req = NULL;
	if (result == EVUTIL_EAI_CANCEL)
		return; /* shutting down: L may be about to go */
	if (result != 0 || res == NULL) {
		const char *why = evutil_gai_strerror(result);
		if (cr != NULL && strcmp(l->last_err, why) != 0) {
			log_warn("dns: cannot resolve %s (replica %u): %s; it stays where it is",
			    cr->dns_name, l->id, why);
			snprintf(l->last_err, sizeof l->last_err, "%s", why);
		}
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	/* The first address: a replica is one machine, and a name with several
	 * addresses for it would be a zone error that moving back and forth
	 * between them would only make worse. */
	if (res->ai_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)res->ai_addr;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
	} else if (res->ai_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)res->ai_addr;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
		v6 = true;
	}
	evutil_freeaddrinfo(res);
	if (host[0] != '\0')
		dw_resolved(l, host, v6);
}

static void
dw_poll(evutil_socket_t fd, short what, void *arg)
{
	struct dnswatch *w = arg;
	struct chubbyd *d = w->d;
	struct evutil_addrinfo hints;

	(void)fd;
	(void)what;
	if (d->replica == NULL || !replica_is_master(d->replica) || w->moving)
		return;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	for (unsigned i = 0; i < w->nlk; i++) {
		struct dw_lookup *l = &w->lk[i];
		const struct cell_replica *cr = config_replica(d->cfg, l->id);

		if (l->req != NULL || cr == NULL)
			continue; /* the last lookup is still out */
		/* evdns_getaddrinfo may answer within the call (then it returns NULL). */
		struct evdns_getaddrinfo_request *q =
		    evdns_getaddrinfo(w->dns, cr->dns_name, NULL, &hints, dw_on_addrinfo, l);
		if (q != NULL && l->req == NULL)
			l->req = q;
	}
}

struct dnswatch *
dnswatch_new(struct chubbyd *d, char *err, size_t errlen)
{
	const struct cell_config *c = d->cfg;
	struct dnswatch *w;
	struct timeval tv;

	w = xcalloc(1, sizeof *w);
	w->d = d;
	for (unsigned i = 0; i < c->nreplicas; i++) {
		/* The master never moves itself: its own name is the next
		 * master's to follow. */
		if (c->replicas[i].dns_name[0] == '\0' || c->replicas[i].id == d->id)
			continue;
		w->lk[w->nlk].w = w;
		w->lk[w->nlk].id = c->replicas[i].id;
		w->nlk++;
	}
	if (w->nlk == 0) {
		free(w);
		return NULL;
	}
	if (c->dns_server != NULL && c->dns_server[0] != '\0') {
		w->dns = evdns_base_new(d->base, 0);
		if (w->dns != NULL && evdns_base_nameserver_ip_add(w->dns, c->dns_server) != 0) {
			snprintf(err, errlen, "dns_server \"%s\" is not IP[:PORT]", c->dns_server);
			goto fail;
		}
	} else {
		w->dns = evdns_base_new(d->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	}
	if (w->dns == NULL) {
		snprintf(err, errlen, "cannot set up the DNS resolver for replicas' dns= names");
		goto fail;
	}
	/* Short timeouts: a poll that finds no answer is simply tried again. */
	evdns_base_set_option(w->dns, "timeout:", "2");
	evdns_base_set_option(w->dns, "attempts:", "2");
	w->timer = event_new(d->base, -1, EV_PERSIST, dw_poll, w);
	tv.tv_sec = (time_t)(c->dns_poll_ms / 1000);
	tv.tv_usec = (suseconds_t)(c->dns_poll_ms % 1000) * 1000;
	event_add(w->timer, &tv);
	log_info("dns: the master follows %u replicas' DNS names every %llu ms", w->nlk,
	    (unsigned long long)c->dns_poll_ms);
	return w;
fail:
	if (w->dns != NULL)
		evdns_base_free(w->dns, 0);
	free(w);
	return NULL;
}

void
dnswatch_free(struct dnswatch *w)
{
	if (w == NULL)
		return;
	if (w->timer != NULL)
		event_free(w->timer);
	for (unsigned i = 0; i < w->nlk; i++)
		if (w->lk[i].req != NULL) {
			struct evdns_getaddrinfo_request *q = w->lk[i].req;
			w->lk[i].req = NULL;
			evdns_getaddrinfo_cancel(q);
		}
	evdns_base_free(w->dns, 0);
	free(w);
}
