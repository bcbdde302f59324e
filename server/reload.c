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
	char err[512], perr[512];
	size_t clients;
	unsigned peers;
	int rc, prc;

	if (cert == NULL || key == NULL) {
		free(cert);
		free(key);
		snprintf(msg, msglen, "out of memory");
		return CHUBBY_E_NOMEM;
	}
	/* The serving side first: if the files do not load, nothing changed. */
	if ((rc = tls_ctx_reload(d->tls_server, &tc, err, sizeof err)) != CHUBBY_OK) {
		snprintf(msg, msglen, "%s", err);
		goto out;
	}
	tc.role = TLS_ROLE_CLIENT;
	prc = net != NULL ? peer_net_reload_tls(net, &tc, perr, sizeof perr) : CHUBBY_OK;
	/* Connections made with a certificate the new CRL lists are closed:
	 * a revocation takes effect now, not when they next reconnect.  The
	 * accepted ones (client port, incoming peer links) go by the serving
	 * context, reloaded above, even if the dialling one did not load. */
	clients = rpc_close_revoked(d->rpc);
	peers = peer_close_revoked(net);
	if (prc != CHUBBY_OK) {
		/* The files changed between the two loads (being written?): the
		 * next reload puts both sides right. */
		snprintf(msg, msglen, "%s (the client port and incoming peer links use the new "
				      "files, the outgoing peer links the old ones: reload again)",
		    perr);
		rc = prc;
		goto out;
	}
	snprintf(msg, msglen, "reloaded certificate %s, key %s, CA %s, %s%s; closed %zu client "
			      "and %u peer connections with a revoked certificate",
	    cert, key, d->cfg->tls_ca, d->cfg->tls_crl[0] != '\0' ? "CRL " : "no CRL",
	    d->cfg->tls_crl, clients, peers);
out:
	free(cert);
	free(key);
	return rc;
}
