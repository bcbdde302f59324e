/* client_locate.c: turns a cell spec into replica addresses: a config file, a host:port list, or DNS (SRV, then A/AAAA). */
#include "config.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "client_int.h"
#include "net.h"

/*
 * DNS.  A cell named by a DNS name NAME is looked up as the SRV records of
 * _chubby._tcp.NAME (RFC 2782), in priority order, the lighter weights last
 * (we ask replicas in turn rather than spread load, so weight only orders);
 * each target's A and AAAA records with the record's port.  A name without
 * SRV records falls back to its own A/AAAA records with the default port.
 *
 * CHUBBY_DNS_SERVER=IP:PORT (IPv4) sends every query to that server instead
 * of resolv.conf's, for tests and for operators checking a zone before it
 * is published; addresses of SRV targets are then asked of it too (else
 * getaddrinfo, which also reads /etc/hosts).
 */

#define CL_SRV_MAX 16

struct cl_srv {
	unsigned prio, weight, port;
	char target[NS_MAXDNAME];
};

/* A resolver state, pointed at $CHUBBY_DNS_SERVER if set.  *CUSTOM says
 * whether it was. */
static int
cl_res_init(res_state st, bool *custom, char *err, size_t errlen)
{
	const char *env = getenv("CHUBBY_DNS_SERVER");

	memset(st, 0, sizeof *st);
	*custom = false;
	if (res_ninit(st) != 0) {
		snprintf(err, errlen, "cannot initialise the DNS resolver");
		return CHUBBY_E_UNAVAILABLE;
	}
	if (env != NULL && *env != '\0') {
		char host[64];
		const char *colon = strrchr(env, ':');
		unsigned long port = 53;
		struct in_addr ia;

		if (colon != NULL) {
			char *end;
			port = strtoul(colon + 1, &end, 10);
			if (*end != '\0' || port == 0 || port > 65535 ||
			    (size_t)(colon - env) >= sizeof host) {
				snprintf(err, errlen, "CHUBBY_DNS_SERVER=%s: expected IPv4:PORT", env);
				res_nclose(st);
				return CHUBBY_E_CONFIG;
			}
			memcpy(host, env, (size_t)(colon - env));
			host[colon - env] = '\0';
		} else {
			snprintf(host, sizeof host, "%s", env);
		}
		if (inet_pton(AF_INET, host, &ia) != 1) {
			snprintf(err, errlen, "CHUBBY_DNS_SERVER=%s: expected IPv4:PORT", env);
			res_nclose(st);
			return CHUBBY_E_CONFIG;
		}
		st->nscount = 1;
		memset(&st->nsaddr_list[0], 0, sizeof st->nsaddr_list[0]);
		st->nsaddr_list[0].sin_family = AF_INET;
		st->nsaddr_list[0].sin_addr = ia;
		st->nsaddr_list[0].sin_port = htons((uint16_t)port);
		/* glibc rebuilds its per-server copies from nsaddr_list when
		 * this count differs from nscount. */
		st->_u._ext.nscount = 0;
		st->retrans = 1;
		st->retry = 2;
		*custom = true;
	}
	return CHUBBY_OK;
}

static int
cl_srv_cmp(const void *a, const void *b)
{
	const struct cl_srv *x = a, *y = b;

	if (x->prio != y->prio)
		return x->prio < y->prio ? -1 : 1;
	if (x->weight != y->weight)
		return x->weight > y->weight ? -1 : 1;
	return strcmp(x->target, y->target);
}

/* The SRV records of QNAME; 0 if none (or the lookup failed). */
static size_t
cl_srv_query(res_state st, const char *qname, struct cl_srv *out, size_t max)
{
	unsigned char ans[8192];
	ns_msg msg;
	ns_rr rr;
	size_t n = 0;
	int len;

	len = res_nquery(st, qname, ns_c_in, ns_t_srv, ans, sizeof ans);
	if (len <= 0 || len > (int)sizeof ans || ns_initparse(ans, len, &msg) != 0)
		return 0;
	for (int i = 0; i < ns_msg_count(msg, ns_s_an) && n < max; i++) {
		const unsigned char *rd;

		if (ns_parserr(&msg, ns_s_an, i, &rr) != 0)
			break;
		if (ns_rr_type(rr) != ns_t_srv || ns_rr_rdlen(rr) < 7)
			continue;
		rd = ns_rr_rdata(rr);
		out[n].prio = ns_get16(rd);
		out[n].weight = ns_get16(rd + 2);
		out[n].port = ns_get16(rd + 4);
		if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), rd + 6, out[n].target,
			sizeof out[n].target) < 0)
			continue;
		/* "." as target: the service is decidedly not available here. */
		if (out[n].target[0] == '\0' || strcmp(out[n].target, ".") == 0 || out[n].port == 0)
			continue;
		n++;
	}
	qsort(out, n, sizeof *out, cl_srv_cmp);
	return n;
}

static void
cl_add_addr(struct cl_cell *out, int family, const void *addr, unsigned port)
{
	char ip[INET6_ADDRSTRLEN];

	if (out->naddrs >= CELLSPEC_MAX_ADDRS || inet_ntop(family, addr, ip, sizeof ip) == NULL)
		return;
	if (family == AF_INET6)
		snprintf(out->addrs[out->naddrs], CELLSPEC_ADDR_MAX, "[%s]:%u", ip, port);
	else
		snprintf(out->addrs[out->naddrs], CELLSPEC_ADDR_MAX, "%s:%u", ip, port);
	for (size_t i = 0; i < out->naddrs; i++)
		if (strcmp(out->addrs[i], out->addrs[out->naddrs]) == 0)
			return; /* already listed */
	out->naddrs++;
}

/* HOST's addresses through the resolver state (the custom server). */
static size_t
cl_addr_query(res_state st, const char *host, unsigned port, struct cl_cell *out)
{
	static const int types[2] = {ns_t_a, ns_t_aaaa};
	size_t before = out->naddrs;

	for (int t = 0; t < 2; t++) {
		unsigned char ans[4096];
		ns_msg msg;
		ns_rr rr;
		int len = res_nquery(st, host, ns_c_in, types[t], ans, sizeof ans);

		if (len <= 0 || len > (int)sizeof ans || ns_initparse(ans, len, &msg) != 0)
			continue;
		for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
			if (ns_parserr(&msg, ns_s_an, i, &rr) != 0)
				break;
			if (ns_rr_type(rr) == ns_t_a && ns_rr_rdlen(rr) == 4)
				cl_add_addr(out, AF_INET, ns_rr_rdata(rr), port);
			else if (ns_rr_type(rr) == ns_t_aaaa && ns_rr_rdlen(rr) == 16)
				cl_add_addr(out, AF_INET6, ns_rr_rdata(rr), port);
		}
	}
	return out->naddrs - before;
}

/* HOST's addresses through getaddrinfo (resolv.conf, /etc/hosts). */
static size_t
cl_addr_gai(const char *host, unsigned port, struct cl_cell *out, int *gai_rc)
{
	struct addrinfo hints, *res = NULL, *ai;
	size_t before = out->naddrs;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	*gai_rc = getaddrinfo(host, NULL, &hints, &res);
	if (*gai_rc != 0)
		return 0;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET)
			cl_add_addr(out, AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, port);
		else if (ai->ai_family == AF_INET6)
			cl_add_addr(out, AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr,
			    port);
	}
	freeaddrinfo(res);
	return out->naddrs - before;
}

int
cl_dns_resolve(const char *name, struct cl_cell *out, char *err, size_t errlen)
{
	struct __res_state st;
	struct cl_srv *srv;
	char qname[NS_MAXDNAME + 16];
	size_t nsrv;
	bool custom;
	int rc, gai_rc = 0;

	if (strlen(name) > 253) {
		snprintf(err, errlen, "cell name \"%.40s...\" is too long for DNS", name);
		return CHUBBY_E_INVALID;
	}
	if ((srv = calloc(CL_SRV_MAX, sizeof *srv)) == NULL)
		return CHUBBY_E_NOMEM;
	if ((rc = cl_res_init(&st, &custom, err, errlen)) != CHUBBY_OK) {
		free(srv);
		return rc;
	}
	snprintf(qname, sizeof qname, "_chubby._tcp.%s", name);
	nsrv = cl_srv_query(&st, qname, srv, CL_SRV_MAX);
	for (size_t i = 0; i < nsrv; i++) {
		if (custom)
			cl_addr_query(&st, srv[i].target, srv[i].port, out);
		else
			cl_addr_gai(srv[i].target, srv[i].port, out, &gai_rc);
	}
	if (out->naddrs == 0) {
		/* No SRV records (or none whose targets resolve): the name's own
		 * addresses, on the default port. */
		if (custom)
			cl_addr_query(&st, name, CELLSPEC_DEFAULT_PORT, out);
		else
			cl_addr_gai(name, CELLSPEC_DEFAULT_PORT, out, &gai_rc);
	}
	res_nclose(&st);
	free(srv);
	if (out->naddrs == 0) {
		snprintf(err, errlen,
		    "cell \"%s\" is not a file, not a host:port list, and DNS has neither SRV "
		    "records for %s nor addresses for it%s%s",
		    name, qname, gai_rc != 0 ? ": " : "", gai_rc != 0 ? gai_strerror(gai_rc) : "");
		return CHUBBY_E_UNAVAILABLE;
	}
	return CHUBBY_OK;
}

static int
cl_copy(char *dst, size_t cap, const char *src, const char *what, char *err, size_t errlen)
{
	if (src == NULL)
		src = "";
	if (strlen(src) >= cap) {
		snprintf(err, errlen, "%s is too long", what);
		return CHUBBY_E_INVALID;
	}
	strcpy(dst, src);
	return CHUBBY_OK;
}

static int cl_from_list(const char *spec, struct cl_cell *out, char *err, size_t errlen);

static int
cl_from_config(const char *path, struct cl_cell *out, char *err, size_t errlen)
{
	struct cell_config *cfg;
	int rc;

	if ((rc = config_load(path, &cfg, err, errlen)) != CHUBBY_OK)
		return rc;
	snprintf(out->cell, sizeof out->cell, "%s", cfg->cell ? cfg->cell : "");
	/* With proxies, the client talks to them as to the cell (docs/PROXY.md);
	 * the replicas are not tried. */
	if (cfg->client_proxies != NULL && cfg->client_proxies[0] != '\0') {
		if ((rc = cl_from_list(cfg->client_proxies, out, err, errlen)) != CHUBBY_OK) {
			char why[256];
			snprintf(why, sizeof why, "%s", err);
			snprintf(err, errlen, "%s: client_proxies: %s", path, why);
			config_free(cfg);
			return CHUBBY_E_CONFIG;
		}
	} else {
		for (unsigned i = 0; i < cfg->nreplicas && out->naddrs < CELLSPEC_MAX_ADDRS; i++)
			snprintf(out->addrs[out->naddrs++], CELLSPEC_ADDR_MAX, "%s",
			    cfg->replicas[i].client_addr);
	}
	out->lease_ms = cfg->session_lease_ms;
	out->grace_ms = cfg->grace_period_ms;
	rc = cl_copy(out->ca, sizeof out->ca, cfg->tls_ca, "tls_ca", err, errlen);
	if (rc == CHUBBY_OK)
		rc = cl_copy(out->cert, sizeof out->cert, cfg->client_tls_cert, "client_tls_cert",
		    err, errlen);
	if (rc == CHUBBY_OK)
		rc = cl_copy(out->key, sizeof out->key, cfg->client_tls_key, "client_tls_key", err,
		    errlen);
	if (rc == CHUBBY_OK)
		rc = cl_copy(out->crl, sizeof out->crl, cfg->tls_crl, "tls_crl", err, errlen);
	config_free(cfg);
	if (rc == CHUBBY_OK && out->naddrs == 0) {
		snprintf(err, errlen, "%s: the cell config lists no replicas", path);
		rc = CHUBBY_E_CONFIG;
	}
	return rc;
}

static int
cl_from_list(const char *spec, struct cl_cell *out, char *err, size_t errlen)
{
	const char *p = spec;

	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char host[256];
		unsigned port;

		if (out->naddrs == CELLSPEC_MAX_ADDRS) {
			snprintf(err, errlen, "more than %d addresses in the cell list",
			    CELLSPEC_MAX_ADDRS);
			return CHUBBY_E_INVALID;
		}
		if (n == 0 || n >= CELLSPEC_ADDR_MAX) {
			snprintf(err, errlen, "empty or overlong address in the cell list \"%s\"",
			    spec);
			return CHUBBY_E_INVALID;
		}
		memcpy(out->addrs[out->naddrs], p, n);
		out->addrs[out->naddrs][n] = '\0';
		if (config_parse_hostport(out->addrs[out->naddrs], host, sizeof host, &port, err,
			errlen) != CHUBBY_OK)
			return CHUBBY_E_INVALID;
		out->naddrs++;
		p += n;
		if (*p == ',')
			p++;
	}
	if (out->naddrs == 0) {
		snprintf(err, errlen, "the cell list is empty");
		return CHUBBY_E_INVALID;
	}
	return CHUBBY_OK;
}

int
cl_cell_resolve(const char *spec, struct cl_cell *out, char *err, size_t errlen)
{
	struct stat sb;
	const char *env;
	int rc;

	memset(out, 0, sizeof *out);
	if (spec == NULL || *spec == '\0')
		spec = getenv("CHUBBY_CELL");
	if (spec == NULL || *spec == '\0') {
		snprintf(err, errlen, "no cell given: set chubby_options.cell or CHUBBY_CELL "
				      "(a cell config file, host:port,... or a DNS name)");
		return CHUBBY_E_CONFIG;
	}
	/* The same rules as lockctl's -C (common/cellspec.c). */
	if (stat(spec, &sb) == 0 || strchr(spec, '/') != NULL)
		rc = cl_from_config(spec, out, err, errlen);
	else if (strchr(spec, ':') != NULL)
		rc = cl_from_list(spec, out, err, errlen);
	else
		rc = cl_dns_resolve(spec, out, err, errlen);
	if (rc != CHUBBY_OK)
		return rc;
	/* CHUBBY_PROXIES: chubby-proxy addresses to use instead of the cell's
	 * (the cell spec still gives the CA, the lease and the rest). */
	if ((env = getenv("CHUBBY_PROXIES")) != NULL && *env != '\0') {
		out->naddrs = 0;
		if ((rc = cl_from_list(env, out, err, errlen)) != CHUBBY_OK)
			return rc;
	}
	/* The environment names the client's own files and wins over the
	 * config, as for lockctl. */
	if ((env = getenv("CHUBBY_CA")) != NULL && *env != '\0' &&
	    (rc = cl_copy(out->ca, sizeof out->ca, env, "CHUBBY_CA", err, errlen)) != CHUBBY_OK)
		return rc;
	if ((env = getenv("CHUBBY_CERT")) != NULL && *env != '\0' &&
	    (rc = cl_copy(out->cert, sizeof out->cert, env, "CHUBBY_CERT", err, errlen)) !=
		CHUBBY_OK)
		return rc;
	if ((env = getenv("CHUBBY_KEY")) != NULL && *env != '\0' &&
	    (rc = cl_copy(out->key, sizeof out->key, env, "CHUBBY_KEY", err, errlen)) != CHUBBY_OK)
		return rc;
	if ((env = getenv("CHUBBY_CRL")) != NULL && *env != '\0' &&
	    (rc = cl_copy(out->crl, sizeof out->crl, env, "CHUBBY_CRL", err, errlen)) != CHUBBY_OK)
		return rc;
	return CHUBBY_OK;
}
