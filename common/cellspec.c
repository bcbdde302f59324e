/* cellspec.c: turns -C CELL / $CHUBBY_CELL and the TLS variables into addresses and files. */
#include "config.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "cellspec.h"
#include "net.h"

static int
cellspec_copy(char *dst, size_t cap, const char *src, const char *what, char *err, size_t errlen)
{
	if (strlen(src) >= cap) {
		snprintf(err, errlen, "%s is too long", what);
		return CHUBBY_E_INVALID;
	}
	strcpy(dst, src);
	return CHUBBY_OK;
}

static int
cellspec_from_config(const char *path, struct cellspec *out, char *err, size_t errlen)
{
	struct cell_config *cfg;
	int rc;

	if ((rc = config_load(path, &cfg, err, errlen)) != CHUBBY_OK)
		return rc;
	out->kind = CELLSPEC_CONFIG;
	snprintf(out->cell, sizeof out->cell, "%s", cfg->cell);
	for (unsigned i = 0; i < cfg->nreplicas && i < CELLSPEC_MAX_ADDRS; i++) {
		snprintf(out->addrs[i], sizeof out->addrs[i], "%s", cfg->replicas[i].client_addr);
		out->ids[i] = cfg->replicas[i].id;
		out->naddrs++;
	}
	rc = cellspec_copy(out->ca, sizeof out->ca, cfg->tls_ca, "tls_ca", err, errlen);
	if (rc == CHUBBY_OK)
		rc = cellspec_copy(out->cert, sizeof out->cert, cfg->client_tls_cert,
		    "client_tls_cert", err, errlen);
	if (rc == CHUBBY_OK)
		rc = cellspec_copy(out->key, sizeof out->key, cfg->client_tls_key, "client_tls_key",
		    err, errlen);
	if (rc == CHUBBY_OK)
		rc = cellspec_copy(out->crl, sizeof out->crl, cfg->tls_crl, "tls_crl", err, errlen);
	config_free(cfg);
	return rc;
}

static int
cellspec_from_list(const char *spec, struct cellspec *out, char *err, size_t errlen)
{
	const char *p = spec;

	out->kind = CELLSPEC_LIST;
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

static int
cellspec_from_dns(const char *name, struct cellspec *out, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	int rc;

	out->kind = CELLSPEC_DNS;
	snprintf(out->dns_name, sizeof out->dns_name, "%s", name);
	snprintf(port, sizeof port, "%d", CELLSPEC_DEFAULT_PORT);
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(name, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cell \"%s\" is not a file, not a host:port list, and not a "
				      "DNS name that resolves: %s", name, gai_strerror(rc));
		return CHUBBY_E_UNAVAILABLE;
	}
	for (ai = res; ai != NULL && out->naddrs < CELLSPEC_MAX_ADDRS; ai = ai->ai_next)
		net_format(ai->ai_addr, out->addrs[out->naddrs++], CELLSPEC_ADDR_MAX);
	freeaddrinfo(res);
	return CHUBBY_OK;
}

int
cellspec_parse(const char *spec, struct cellspec *out, char *err, size_t errlen)
{
	struct stat st;
	const char *env;
	int rc;

	memset(out, 0, sizeof *out);
	if (spec == NULL || *spec == '\0')
		spec = getenv("CHUBBY_CELL");
	if (spec == NULL || *spec == '\0') {
		snprintf(err, errlen, "no cell given: use -C CELL or set CHUBBY_CELL "
				      "(a cell config file, host:port,... or a DNS name)");
		return CHUBBY_E_CONFIG;
	}
	if (stat(spec, &st) == 0 || strchr(spec, '/') != NULL)
		rc = cellspec_from_config(spec, out, err, errlen);
	else if (strchr(spec, ':') != NULL)
		rc = cellspec_from_list(spec, out, err, errlen);
	else
		rc = cellspec_from_dns(spec, out, err, errlen);
	if (rc != CHUBBY_OK)
		return rc;
	/* The environment names the client's own files and wins over the config. */
	if ((env = getenv("CHUBBY_CA")) != NULL && *env != '\0' &&
	    (rc = cellspec_copy(out->ca, sizeof out->ca, env, "CHUBBY_CA", err, errlen)) != CHUBBY_OK)
		return rc;
	if ((env = getenv("CHUBBY_CERT")) != NULL && *env != '\0' &&
	    (rc = cellspec_copy(out->cert, sizeof out->cert, env, "CHUBBY_CERT", err, errlen)) !=
		CHUBBY_OK)
		return rc;
	if ((env = getenv("CHUBBY_KEY")) != NULL && *env != '\0' &&
	    (rc = cellspec_copy(out->key, sizeof out->key, env, "CHUBBY_KEY", err, errlen)) !=
		CHUBBY_OK)
		return rc;
	if ((env = getenv("CHUBBY_CRL")) != NULL && *env != '\0' &&
	    (rc = cellspec_copy(out->crl, sizeof out->crl, env, "CHUBBY_CRL", err, errlen)) !=
		CHUBBY_OK)
		return rc;
	if (out->ca[0] == '\0' || out->cert[0] == '\0' || out->key[0] == '\0') {
		snprintf(err, errlen, "no TLS %s for the client: set %s (or client_tls_cert, "
				      "client_tls_key and tls_ca in the cell config)",
		    out->ca[0] == '\0' ? "CA" : out->cert[0] == '\0' ? "certificate" : "key",
		    out->ca[0] == '\0' ? "CHUBBY_CA" : out->cert[0] == '\0' ? "CHUBBY_CERT" : "CHUBBY_KEY");
		return CHUBBY_E_CONFIG;
	}
	return CHUBBY_OK;
}
