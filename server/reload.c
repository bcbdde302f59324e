/* reload.c: a replica reads its TLS files again without a restart (SIGHUP, RELOAD). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "chubbyd.h"
#include "log.h"
#include "peer/peer.h"
#include "replica.h"
#include "rpc/rpc.h"
#include "tls.h"

int
chubbyd_reload_tls(struct chubbyd *d, char *msg, size_t msglen)
{
	char *cert = config_expand(d->cfg->tls_cert, d->id);
	char *key = config_expand(d->cfg->tls_key, d->id);
	struct tls_config tc = {.ca_file = d->cfg->tls_ca, .cert_file = cert, .key_file = key,
	    .crl_file = d->cfg->tls_crl, .role = TLS_ROLE_SERVER};
	struct peer_net *net = d->replica != NULL ? replica_peer_net(d->replica) : NULL;
	char err[512];
	size_t clients;
	unsigned peers;
	int rc;

	if (cert == NULL || key == NULL) {
		free(cert);
		free(key);
		snprintf(msg, msglen, "out of memory");
		return CHUBBY_E_NOMEM;
	}
	/* The serving side first: if the files do not load, nothing changed. */
	rc = tls_ctx_reload(d->tls_server, &tc, err, sizeof err);
	if (rc == CHUBBY_OK && net != NULL) {
		tc.role = TLS_ROLE_CLIENT;
		rc = peer_net_reload_tls(net, &tc, err, sizeof err);
		if (rc != CHUBBY_OK) {
			/* The files changed between the two loads (being written?):
			 * say so; the next reload puts both sides right. */
			snprintf(msg, msglen, "%s (the client port uses the new files, the "
					      "outgoing peer links the old ones; reload again)",
			    err);
			free(cert);
			free(key);
			return rc;
		}
	}
	if (rc != CHUBBY_OK) {
		snprintf(msg, msglen, "%s", err);
		free(cert);
		free(key);
		return rc;
	}
	/* Connections made with a certificate the new CRL lists are closed:
	 * a revocation takes effect now, not when they next reconnect. */
	clients = rpc_close_revoked(d->rpc);
	peers = peer_close_revoked(net);
	snprintf(msg, msglen, "reloaded certificate %s, key %s, CA %s, %s%s; closed %zu client "
			      "and %u peer connections with a revoked certificate",
	    cert, key, d->cfg->tls_ca, d->cfg->tls_crl[0] != '\0' ? "CRL " : "no CRL",
	    d->cfg->tls_crl, clients, peers);
	free(cert);
	free(key);
	return CHUBBY_OK;
}
