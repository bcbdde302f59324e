/* tls.c: TLS contexts, the certificate profile's identity rules, and the TLS transport. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>

#include <chubby/chubby.h>

#include "tls.h"
#include "tp.h"

struct tls_ctx {
	SSL_CTX *ssl;
	enum tls_role role;
	char cell[TP_NAME_MAX];
	STACK_OF(X509) *cas;      /* the trust anchors, to check a CRL's signature */
	STACK_OF(X509_CRL) *crls; /* the CRLs in force (empty: no revocation check) */
	char crl_file[1024];      /* where they came from, for messages */
};

/*
 * OpenSSL's error queue.
 */

/* The reason text of error E: strerror's text for a system error (a file that
 * cannot be opened), else OpenSSL's reason string. */
static void
tls_err_reason(unsigned long e, char *buf, size_t len)
{
	const char *r;

	if (ERR_SYSTEM_ERROR(e)) {
		snprintf(buf, len, "%s", strerror(ERR_GET_REASON(e)));
		return;
	}
	r = ERR_reason_error_string(e);
	if (r != NULL)
		snprintf(buf, len, "%s", r);
	else
		ERR_error_string_n(e, buf, len);
}

/*
 * Writes "tls: WHAT FILE: REASON" ("tls: WHAT: REASON" if FILE is NULL) from
 * the oldest error OpenSSL queued (the cause; later entries are callers
 * giving up), then empties the queue so that no stale error is later blamed
 * on a connection.  Returns CHUBBY_E_IO when the cause is a system error
 * (the file could not be read), CHUBBY_E_TLS otherwise.
 */
static int
tls_fail(char *err, size_t errlen, const char *what, const char *file)
{
	unsigned long e = ERR_peek_error();
	char reason[256];
	int status = CHUBBY_E_TLS;

	if (e == 0)
		snprintf(reason, sizeof reason, "unknown error");
	else {
		tls_err_reason(e, reason, sizeof reason);
		if (ERR_SYSTEM_ERROR(e))
			status = CHUBBY_E_IO;
		else if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
			snprintf(reason, sizeof reason, "no PEM data found");
	}
	ERR_clear_error();
	if (file != NULL)
		snprintf(err, errlen, "tls: %s %s: %s", what, file, reason);
	else
		snprintf(err, errlen, "tls: %s: %s", what, reason);
	return status;
}

/* Refuses to prompt on the terminal for the pass phrase of an encrypted key
 * (a daemon has nobody to ask), noting in *ARG that one was wanted. */
static int
tls_no_password(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(int *)arg = 1;
	return -1;
}

/*
 * Names and the certificate profile.
 */

static int
tls_name_chars(const char *name, const char *extra)
{
	size_t n;

	if (name == NULL)
		return 0;
	n = strlen(name);
	if (n == 0 || n >= TP_NAME_MAX || name[0] == '.' || name[0] == '-')
		return 0;
	for (const char *p = name; *p != '\0'; p++) {
		char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			continue;
		if (strchr(extra, c) == NULL)
			return 0;
	}
	return 1;
}

int
tls_principal_valid(const char *name)
{
	return tls_name_chars(name, "._@-");
}

int
tls_cell_valid(const char *name)
{
	return tls_name_chars(name, "._-");
}

int
tls_replica_id_parse(const char *name, int *id)
{
	size_t plen = strlen(TLS_REPLICA_PREFIX);
	const char *p;
	int v = 0;

	if (name == NULL || strncmp(name, TLS_REPLICA_PREFIX, plen) != 0)
		return -1;
	p = name + plen;
	/* One spelling per replica: "replica-03" would be a second name for 3. */
	if (*p < '1' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > TLS_MAX_REPLICA_ID)
			return -1;
	}
	if (*p != '\0')
		return -1;
	*id = v;
	return 0;
}

/* Copies printable ASCII of S into BUF, '?' for anything else: names from a
 * certificate end up in logs. */
static const char *
tls_sanitize(const char *s, char *buf, size_t len)
{
	size_t i = 0;

	for (; *s != '\0' && i + 1 < len; s++, i++)
		buf[i] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	buf[i] = '\0';
	return buf;
}

/* The one entry NID of NAME as UTF-8 in BUF.  Returns 0; -1 if there is
 * none; -2 if there are several, or it is too long or holds a NUL. */
static int
tls_name_entry(const X509_NAME *name, int nid, char *buf, size_t len)
{
	const X509_NAME_ENTRY *ent;
	unsigned char *utf8 = NULL;
	int i, n;

	i = X509_NAME_get_index_by_NID(name, nid, -1);
	if (i < 0)
		return -1;
	if (X509_NAME_get_index_by_NID(name, nid, i) >= 0)
		return -2;
	ent = X509_NAME_get_entry(name, i);
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(ent));
	if (n < 0) {
		ERR_clear_error();
		return -2;
	}
	if ((size_t)n >= len || memchr(utf8, '\0', (size_t)n) != NULL) {
		OPENSSL_free(utf8);
		return -2;
	}
	memcpy(buf, utf8, (size_t)n);
	buf[n] = '\0';
	OPENSSL_free(utf8);
	return 0;
}

int
tls_cert_identity(struct x509_st *cert, const char *cell, struct tp_identity *out, char *err,
    size_t errlen)
{
	const X509_NAME *subj;
	char ou[TP_NAME_MAX], cn[TP_NAME_MAX], org[TP_NAME_MAX], safe[TP_NAME_MAX];
	uint32_t xku;
	int rc, id;

	memset(out, 0, sizeof *out);
	out->kind = TP_PEER_ANON;
	out->replica_id = -1;
	if (cert == NULL) {
		snprintf(err, errlen, "tls: no certificate");
		return CHUBBY_E_AUTH;
	}
	subj = X509_get_subject_name(cert);
	/* A CA certificate never names a peer, whatever its subject says. */
	if (X509_check_ca(cert) != 0) {
		snprintf(err, errlen, "tls: a CA certificate cannot identify a peer");
		return CHUBBY_E_AUTH;
	}
	rc = tls_name_entry(subj, NID_organizationalUnitName, ou, sizeof ou);
	if (rc != 0) {
		snprintf(err, errlen, "tls: certificate has %s OU: not a chubby certificate",
		    rc == -1 ? "no" : "more than one or a malformed");
		return CHUBBY_E_AUTH;
	}
	if (tls_name_entry(subj, NID_commonName, cn, sizeof cn) != 0) {
		snprintf(err, errlen, "tls: certificate needs exactly one well-formed CN");
		return CHUBBY_E_AUTH;
	}
	if (tls_name_entry(subj, NID_organizationName, org, sizeof org) != 0) {
		snprintf(err, errlen, "tls: certificate needs exactly one well-formed O (the cell)");
		return CHUBBY_E_AUTH;
	}
	if (cell != NULL && cell[0] != '\0' && strcmp(org, cell) != 0) {
		char safe_cell[TP_NAME_MAX];
		snprintf(err, errlen, "tls: certificate is for cell \"%s\", not \"%s\"",
		    tls_sanitize(org, safe, sizeof safe), tls_sanitize(cell, safe_cell, sizeof safe_cell));
		return CHUBBY_E_AUTH;
	}
	/* No extendedKeyUsage would mean "any use": our certificates always
	 * carry one, so its absence marks a certificate we did not issue. */
	xku = (X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) ? X509_get_extended_key_usage(cert)
	                                                         : 0;
	if (strcmp(ou, TLS_OU_REPLICA) == 0) {
		if (tls_replica_id_parse(cn, &id) != 0) {
			snprintf(err, errlen, "tls: replica certificate has CN \"%s\", not %sN",
			    tls_sanitize(cn, safe, sizeof safe), TLS_REPLICA_PREFIX);
			return CHUBBY_E_AUTH;
		}
		if ((xku & (XKU_SSL_SERVER | XKU_SSL_CLIENT)) != (XKU_SSL_SERVER | XKU_SSL_CLIENT)) {
			snprintf(err, errlen,
			    "tls: replica certificate lacks the serverAuth and clientAuth usages");
			return CHUBBY_E_AUTH;
		}
		out->kind = TP_PEER_REPLICA;
		out->replica_id = id;
	} else if (strcmp(ou, TLS_OU_CLIENT) == 0) {
		if (!tls_principal_valid(cn)) {
			snprintf(err, errlen, "tls: client certificate has an invalid name \"%s\"",
			    tls_sanitize(cn, safe, sizeof safe));
			return CHUBBY_E_AUTH;
		}
		if ((xku & XKU_SSL_CLIENT) == 0) {
			snprintf(err, errlen, "tls: client certificate lacks the clientAuth usage");
			return CHUBBY_E_AUTH;
		}
		out->kind = TP_PEER_CLIENT;
	} else {
		snprintf(err, errlen, "tls: certificate OU \"%s\" is neither %s nor %s",
		    tls_sanitize(ou, safe, sizeof safe), TLS_OU_REPLICA, TLS_OU_CLIENT);
		return CHUBBY_E_AUTH;
	}
	snprintf(out->name, sizeof out->name, "%s", cn);
	snprintf(out->cell, sizeof out->cell, "%s", org);
	return CHUBBY_OK;
}

/*
 * Contexts.
 */

/* Trusts exactly the certificates in FILE, each of which must be a CA; the
 * first one's O names the cell. */
static int
tls_load_ca(struct tls_ctx *ctx, const char *file, char *err, size_t errlen)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx->ssl);
	BIO *bio;
	X509 *x;
	int n = 0, rc = CHUBBY_OK;

	bio = BIO_new_file(file, "r");
	if (bio == NULL)
		return tls_fail(err, errlen, "cannot load CA file", file);
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (X509_check_ca(x) == 0) {
			snprintf(err, errlen, "tls: CA file %s holds a certificate that is not a CA",
			    file);
			rc = CHUBBY_E_TLS;
		} else if (X509_STORE_add_cert(store, x) != 1) {
			rc = tls_fail(err, errlen, "cannot use CA file", file);
		} else if (X509_up_ref(x) != 1) {
			rc = tls_fail(err, errlen, "cannot use CA file", file);
		} else if (sk_X509_push(ctx->cas, x) <= 0) {
			X509_free(x); /* the reference taken for CTX->cas */
			rc = tls_fail(err, errlen, "cannot use CA file", file);
		} else if (n == 0 &&
		    tls_name_entry(X509_get_subject_name(x), NID_organizationName, ctx->cell,
			sizeof ctx->cell) != 0) {
			ctx->cell[0] = '\0';
		}
		X509_free(x);
		if (rc != CHUBBY_OK)
			break;
		n++;
	}
	if (rc == CHUBBY_OK && n == 0)
		rc = tls_fail(err, errlen, "cannot load CA file", file);
	/* Reading stops at the end of the file with a "no start line" error. */
	ERR_clear_error();
	BIO_free(bio);
	return rc;
}

/* The CA in CTX that issued and signed CRL, or NULL. */
static X509 *
tls_crl_issuer(struct tls_ctx *ctx, X509_CRL *crl)
{
	for (int i = 0; i < sk_X509_num(ctx->cas); i++) {
		X509 *ca = sk_X509_value(ctx->cas, i);
		EVP_PKEY *pub = X509_get0_pubkey(ca);

		if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) == 0 &&
		    pub != NULL && X509_CRL_verify(crl, pub) == 1)
			return ca;
	}
	ERR_clear_error();
	return NULL;
}

/*
 * Loads the CRLs in FILE (PEM, one or more) and turns revocation checking
 * on for the leaf certificate of every handshake.  Each CRL must be signed
 * by one of our CAs and be current: an expired CRL would make OpenSSL
 * refuse every peer, so it is refused here, at load, with the reason.
 */
static int
tls_load_crl(struct tls_ctx *ctx, const char *file, char *err, size_t errlen)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx->ssl);
	X509_CRL *crl;
	BIO *bio;
	int n = 0, rc = CHUBBY_OK;

	snprintf(ctx->crl_file, sizeof ctx->crl_file, "%s", file);
	bio = BIO_new_file(file, "r");
	if (bio == NULL)
		return tls_fail(err, errlen, "cannot load CRL", file);
	while (rc == CHUBBY_OK && (crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
		const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);

		if (tls_crl_issuer(ctx, crl) == NULL) {
			snprintf(err, errlen, "tls: CRL %s is not signed by the cell CA", file);
			rc = CHUBBY_E_TLS;
		} else if (X509_cmp_current_time(X509_CRL_get0_lastUpdate(crl)) > 0) {
			snprintf(err, errlen, "tls: CRL %s is not valid yet (is the clock right?)", file);
			rc = CHUBBY_E_TLS;
		} else if (next != NULL && X509_cmp_current_time(next) < 0) {
			snprintf(err, errlen,
			    "tls: CRL %s has expired: make it again (chubby-certs crl) and reload", file);
			rc = CHUBBY_E_TLS;
		} else if (X509_STORE_add_crl(store, crl) != 1 || sk_X509_CRL_push(ctx->crls, crl) <= 0) {
			rc = tls_fail(err, errlen, "cannot use CRL", file);
		} else {
			n++;
			continue; /* CTX->crls holds it now */
		}
		X509_CRL_free(crl);
	}
	if (rc == CHUBBY_OK && n == 0)
		rc = tls_fail(err, errlen, "cannot load CRL", file);
	/* With CRL checking on, a certificate whose CA has no CRL is refused
	 * ("unable to get certificate CRL"): say so now, for the CA at fault,
	 * rather than refuse its peers later (a bundle of two CAs, mid-way
	 * through a CA change, needs a CRL from each). */
	for (int i = 0; rc == CHUBBY_OK && i < sk_X509_num(ctx->cas); i++) {
		X509 *ca = sk_X509_value(ctx->cas, i);
		int found = 0;
		char cn[TP_NAME_MAX];

		/* By signature, not only by name: two CAs of one cell (a CA
		 * change) have the same name. */
		for (int k = 0; !found && k < sk_X509_CRL_num(ctx->crls); k++) {
			X509_CRL *one = sk_X509_CRL_value(ctx->crls, k);
			found = X509_NAME_cmp(X509_CRL_get_issuer(one), X509_get_subject_name(ca)) == 0 &&
			    X509_get0_pubkey(ca) != NULL && X509_CRL_verify(one, X509_get0_pubkey(ca)) == 1;
		}
		if (!found) {
			if (tls_name_entry(X509_get_subject_name(ca), NID_commonName, cn, sizeof cn) != 0)
				snprintf(cn, sizeof cn, "?");
			snprintf(err, errlen,
			    "tls: CRL %s has no CRL from the CA \"%s\" of the CA file; every CA "
			    "trusted needs one (chubby-certs crl)",
			    file, cn);
			rc = CHUBBY_E_TLS;
		}
	}
	ERR_clear_error();
	BIO_free(bio);
	/* The leaf only: our chains are a leaf and the cell CA, and the CA's
	 * own certificate is the trust anchor. */
	if (rc == CHUBBY_OK && (X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK) != 1 ||
	    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx->ssl), X509_V_FLAG_CRL_CHECK) != 1))
		rc = tls_fail(err, errlen, "cannot use CRL", file);
	return rc;
}

/* 1 if CERT is on one of CTX's CRLs, with the words in WHY. */
static int
tls_cert_revoked(const struct tls_ctx *ctx, X509 *cert, char *why, size_t len)
{
	X509_REVOKED *rev;

	if (cert == NULL)
		return 0;
	for (int i = 0; i < sk_X509_CRL_num(ctx->crls); i++) {
		if (X509_CRL_get0_by_cert(sk_X509_CRL_value(ctx->crls, i), &rev, cert) == 1) {
			BIGNUM *bn = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(rev), NULL);
			char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

			snprintf(why, len, "certificate revoked (serial %s, CRL %s)",
			    hex != NULL ? hex : "?", ctx->crl_file);
			OPENSSL_free(hex);
			BN_free(bn);
			ERR_clear_error();
			return 1;
		}
	}
	ERR_clear_error();
	return 0;
}

static int
tls_load_key(struct tls_ctx *ctx, const struct tls_config *cfg, char *err, size_t errlen)
{
	EVP_PKEY *pkey;
	BIO *bio;
	int rc = CHUBBY_OK, encrypted = 0;

	bio = BIO_new_file(cfg->key_file, "r");
	if (bio == NULL)
		return tls_fail(err, errlen, "cannot load private key", cfg->key_file);
	pkey = PEM_read_bio_PrivateKey(bio, NULL, tls_no_password, &encrypted);
	BIO_free(bio);
	if (pkey == NULL && encrypted) {
		ERR_clear_error();
		snprintf(err, errlen, "tls: private key %s is encrypted; chubby needs it unencrypted",
		    cfg->key_file);
		return CHUBBY_E_TLS;
	}
	if (pkey == NULL)
		return tls_fail(err, errlen, "cannot load private key", cfg->key_file);
	if (SSL_CTX_use_PrivateKey(ctx->ssl, pkey) != 1 || SSL_CTX_check_private_key(ctx->ssl) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "tls: private key %s does not match certificate %s",
		    cfg->key_file, cfg->cert_file);
		rc = CHUBBY_E_TLS;
	}
	EVP_PKEY_free(pkey);
	return rc;
}

/* Our own certificate must be one of the profile's, for the CA's cell, and a
 * server's must be a replica's: catching a swapped file here gives a clear
 * message instead of handshakes failing later on the other side. */
static int
tls_check_own(struct tls_ctx *ctx, const struct tls_config *cfg, char *err, size_t errlen)
{
	struct tp_identity id;
	char why[256];

	if (tls_cert_identity(SSL_CTX_get0_certificate(ctx->ssl), ctx->cell, &id, why,
		sizeof why) != CHUBBY_OK) {
		snprintf(err, errlen, "tls: certificate %s: %s", cfg->cert_file,
		    strncmp(why, "tls: ", 5) == 0 ? why + 5 : why);
		return CHUBBY_E_TLS;
	}
	if (tls_cert_revoked(ctx, SSL_CTX_get0_certificate(ctx->ssl), why, sizeof why)) {
		snprintf(err, errlen, "tls: certificate %s: %s: it needs a new certificate",
		    cfg->cert_file, why);
		return CHUBBY_E_TLS;
	}
	if (cfg->role == TLS_ROLE_SERVER && cfg->proxy && id.kind == TP_PEER_CLIENT) {
		X509 *own = SSL_CTX_get0_certificate(ctx->ssl);
		if ((X509_get_extension_flags(own) & EXFLAG_XKUSAGE) &&
		    (X509_get_extended_key_usage(own) & XKU_SSL_SERVER))
			return CHUBBY_OK;
		snprintf(err, errlen,
		    "tls: certificate %s lacks the serverAuth usage a proxy serves with "
		    "(chubby-certs proxy issues one)",
		    cfg->cert_file);
		return CHUBBY_E_TLS;
	}
	if (cfg->role == TLS_ROLE_SERVER && id.kind != TP_PEER_REPLICA) {
		snprintf(err, errlen,
		    "tls: certificate %s is a %s certificate; serving needs a replica certificate",
		    cfg->cert_file, tp_kind_name(id.kind));
		return CHUBBY_E_TLS;
	}
	return CHUBBY_OK;
}

int
tls_ctx_load(struct tls_ctx **out, const struct tls_config *cfg, char *err, size_t errlen)
{
	struct tls_ctx *ctx;
	int server, rc;

	*out = NULL;
	if (cfg == NULL || cfg->ca_file == NULL || (cfg->cert_file == NULL) != (cfg->key_file == NULL) ||
	    (cfg->role != TLS_ROLE_SERVER && cfg->role != TLS_ROLE_CLIENT)) {
		snprintf(err, errlen, "tls: a CA file, and a certificate with its key or neither, "
		                      "are needed");
		return CHUBBY_E_INVALID;
	}
	server = cfg->role == TLS_ROLE_SERVER;
	if (server && cfg->cert_file == NULL) {
		snprintf(err, errlen, "tls: a server needs a certificate and a key");
		return CHUBBY_E_INVALID;
	}
	ERR_clear_error();
	ctx = calloc(1, sizeof *ctx);
	if (ctx == NULL) {
		snprintf(err, errlen, "tls: out of memory");
		return CHUBBY_E_NOMEM;
	}
	ctx->role = cfg->role;
	ctx->ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	ctx->cas = sk_X509_new_null();
	ctx->crls = sk_X509_CRL_new_null();
	if (ctx->ssl == NULL || ctx->cas == NULL || ctx->crls == NULL) {
		rc = tls_fail(err, errlen, "cannot create a context", NULL);
		tls_ctx_free(ctx);
		return rc;
	}

	/* TLS 1.3 only: both ends are ours, so there is no old peer to
	 * accommodate, and 1.3 encrypts the certificates, has no renegotiation
	 * and only AEAD cipher suites with forward secrecy. */
	if (SSL_CTX_set_min_proto_version(ctx->ssl, TLS1_3_VERSION) != 1) {
		rc = tls_fail(err, errlen, "cannot require TLS 1.3", NULL);
		goto fail;
	}
	/* No resumption: every connection verifies the peer's certificate
	 * afresh, so one that expired or was replaced is noticed at once. */
	SSL_CTX_set_session_cache_mode(ctx->ssl, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx->ssl, SSL_OP_NO_TICKET);
	if (server)
		SSL_CTX_set_num_tickets(ctx->ssl, 0);
	/* Read as much as the socket has in one read(2), not a record header
	 * and then its body: half the reads on a busy connection.  Records
	 * read ahead are picked up by conn.c (tp_input_pending). */
	SSL_CTX_set_read_ahead(ctx->ssl, 1);

	/* The cell CA is the only trust anchor: no system store, so a
	 * certificate from any public CA means nothing here. */
	if ((rc = tls_load_ca(ctx, cfg->ca_file, err, errlen)) != CHUBBY_OK)
		goto fail;
	if (cfg->crl_file != NULL && cfg->crl_file[0] != '\0' &&
	    (rc = tls_load_crl(ctx, cfg->crl_file, err, errlen)) != CHUBBY_OK)
		goto fail;
	if (cfg->cert_file != NULL) {
		if (SSL_CTX_use_certificate_chain_file(ctx->ssl, cfg->cert_file) != 1) {
			rc = tls_fail(err, errlen, "cannot load certificate", cfg->cert_file);
			goto fail;
		}
		if ((rc = tls_load_key(ctx, cfg, err, errlen)) != CHUBBY_OK)
			goto fail;
		if ((rc = tls_check_own(ctx, cfg, err, errlen)) != CHUBBY_OK)
			goto fail;
	}

	/* Mutual authentication: a server refuses a client without a
	 * certificate.  The purpose check makes OpenSSL demand the
	 * extendedKeyUsage each side needs: a client certificate (clientAuth
	 * only) cannot serve. */
	SSL_CTX_set_verify(ctx->ssl,
	    server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER, NULL);
	/* Our chains are a leaf and the cell CA; one intermediate is allowed
	 * for a CA file that holds one. */
	SSL_CTX_set_verify_depth(ctx->ssl, 2);
	if (SSL_CTX_set_purpose(ctx->ssl,
		server ? X509_PURPOSE_SSL_CLIENT : X509_PURPOSE_SSL_SERVER) != 1) {
		rc = tls_fail(err, errlen, "cannot set the certificate purpose", NULL);
		goto fail;
	}
	ERR_clear_error();
	*out = ctx;
	return CHUBBY_OK;
fail:
	ERR_clear_error();
	tls_ctx_free(ctx);
	return rc;
}

struct tls_ctx *
tls_ctx_new(const struct tls_config *cfg, char *err, size_t errlen)
{
	struct tls_ctx *ctx;

	if (tls_ctx_load(&ctx, cfg, err, errlen) != CHUBBY_OK)
		return NULL;
	return ctx;
}

void
tls_ctx_free(struct tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	SSL_CTX_free(ctx->ssl);
	sk_X509_pop_free(ctx->cas, X509_free);
	sk_X509_CRL_pop_free(ctx->crls, X509_CRL_free);
	free(ctx);
}

int
tls_ctx_reload(struct tls_ctx *ctx, const struct tls_config *cfg, char *err, size_t errlen)
{
	struct tls_ctx *fresh, tmp;
	int rc;

	if (cfg == NULL || cfg->role != ctx->role) {
		snprintf(err, errlen, "tls: a reload keeps the context's role");
		return CHUBBY_E_INVALID;
	}
	if ((rc = tls_ctx_load(&fresh, cfg, err, errlen)) != CHUBBY_OK)
		return rc;
	/* Swap the contents, so that every transport holding CTX uses the new
	 * files for its next connection.  A connection made before holds a
	 * reference to the old SSL_CTX (SSL_new counts it), which is freed
	 * with the last such connection. */
	tmp = *ctx;
	*ctx = *fresh;
	*fresh = tmp;
	tls_ctx_free(fresh);
	return CHUBBY_OK;
}

int
tls_ctx_has_crl(const struct tls_ctx *ctx)
{
	return sk_X509_CRL_num(ctx->crls) > 0;
}

enum tls_role
tls_ctx_role(const struct tls_ctx *ctx)
{
	return ctx->role;
}

const char *
tls_ctx_cell(const struct tls_ctx *ctx)
{
	return ctx->cell;
}

/*
 * The TLS transport.
 */

/*
 * Once the handshake is done, a close without close_notify reads as EOF, as
 * on plain TCP: libevent never sends close_notify when it frees a
 * connection, and a crashed peer cannot; the framing detects a message cut
 * short.  Before that, such a close is an error ("unexpected eof"), so that
 * a cut handshake reaches the caller as BEV_EVENT_ERROR.  (libevent's own
 * "allow dirty shutdown" is left off: it would also turn a refused
 * connection or a reset into EOF.)
 */
static void
tls_tp_info(const SSL *ssl, int where, int ret)
{
	struct bufferevent *bev;
	SSL *s;

	(void)ret;
	if ((where & SSL_CB_HANDSHAKE_DONE) && (bev = SSL_get_app_data(ssl)) != NULL &&
	    (s = bufferevent_openssl_get_ssl(bev)) != NULL)
		SSL_set_options(s, SSL_OP_IGNORE_UNEXPECTED_EOF);
}

static struct bufferevent *
tls_tp_wrap(struct tp *tp, struct event_base *base, evutil_socket_t fd, int accepting)
{
	struct tls_ctx *ctx = tp_impl(tp);
	struct bufferevent *bev;
	SSL *ssl;

	if (accepting != (ctx->role == TLS_ROLE_SERVER)) {
		/* A server context on a connecting socket would ask its peer for
		 * a certificate it must not be asked for, and the reverse. */
		errno = EINVAL;
		return NULL;
	}
	ssl = SSL_new(ctx->ssl);
	if (ssl == NULL) {
		ERR_clear_error();
		errno = ENOMEM;
		return NULL;
	}
	/* On failure libevent 2.1 has freed SSL (BEV_OPT_CLOSE_ON_FREE) but
	 * left FD open, which our caller closes. */
	/* tp_write_now may leave a record half sent that libevent completes
	 * from its own copy of the bytes, at another address. */
	SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    accepting ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING, tp_bev_options(tp));
	if (bev == NULL) {
		ERR_clear_error();
		errno = ENOMEM;
		return NULL;
	}
	SSL_set_app_data(ssl, bev);
	SSL_set_info_callback(ssl, tls_tp_info);
	bufferevent_setcb(bev, NULL, NULL, tp_ignore_event, NULL);
	return bev;
}

static int
tls_tp_identity(struct tp *tp, struct bufferevent *bev, struct tp_identity *out, char *err,
    size_t errlen)
{
	struct tls_ctx *ctx = tp_impl(tp);
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	long vr;

	memset(out, 0, sizeof *out);
	out->kind = TP_PEER_ANON;
	out->replica_id = -1;
	if (ssl == NULL) {
		snprintf(err, errlen, "tls: not a TLS connection");
		return CHUBBY_E_INVALID;
	}
	if (!SSL_is_init_finished(ssl)) {
		snprintf(err, errlen, "tls: handshake not finished");
		return CHUBBY_E_INVALID;
	}
	/* The handshake fails when verification does, so these two hold; they
	 * are checked again because everything else rests on them. */
	vr = SSL_get_verify_result(ssl);
	if (vr != X509_V_OK) {
		snprintf(err, errlen, "tls: peer certificate not verified: %s",
		    X509_verify_cert_error_string(vr));
		return CHUBBY_E_AUTH;
	}
	return tls_cert_identity(SSL_get0_peer_certificate(ssl), ctx->cell, out, err, errlen);
}

/* Plain words for the failures people meet: OpenSSL names the alert the
 * peer sent, not what the peer held against us.  FINAL marks a refusal of a
 * certificate that retrying will not change (docs/TLS.md "Errors"): every
 * replica of a cell trusts the same CA, so one replica's verdict on our
 * certificate is the cell's. */
static const struct {
	int reason;
	int final;
	const char *text;
} tls_explain[] = {
    {SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED, 1,
	"the peer requires a certificate and we sent none"},
    {SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED, 1, "the peer says our certificate has expired"},
    {SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED, 1,
	"the peer says our certificate has been revoked; ask the CA holder for a new one"},
    {SSL_R_TLSV1_ALERT_UNKNOWN_CA, 1, "the peer does not trust the CA of our certificate"},
    {SSL_R_SSLV3_ALERT_BAD_CERTIFICATE, 1, "the peer refused our certificate"},
    {SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE, 1,
	"the peer refused our certificate for this use (a client certificate cannot serve)"},
    {SSL_R_CERTIFICATE_VERIFY_FAILED, 1, "we refused the peer's certificate"},
    {SSL_R_TLSV1_ALERT_PROTOCOL_VERSION, 0, "the peer does not speak TLS 1.3"},
    {SSL_R_UNSUPPORTED_PROTOCOL, 0, "the peer does not speak TLS 1.3"},
    {SSL_R_WRONG_VERSION_NUMBER, 0, "the peer does not speak TLS (plaintext on a TLS port?)"},
    {SSL_R_HTTP_REQUEST, 0, "the peer sent an HTTP request to a TLS port"},
    {SSL_R_UNEXPECTED_EOF_WHILE_READING, 0,
	"the peer closed the connection during the handshake"},
};

static int
tls_tp_error_string(struct tp *tp, struct bufferevent *bev, char *buf, size_t len)
{
	int saved = EVUTIL_SOCKET_ERROR();
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long e, cause = 0;
	char reason[256];
	int status = CHUBBY_E_TLS;
	size_t n;
	long vr;

	(void)tp;
	/* libevent keeps the last few errors of the failed call and hands them
	 * back newest first: the last one out is the cause.  It also queues the
	 * bare SSL_get_error() code of an I/O failure (a small number with no
	 * library), which says only "look at errno". */
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		if (ERR_GET_LIB(e) == 0 && !ERR_SYSTEM_ERROR(e))
			continue;
		cause = e;
	}
	if (cause == 0) {
		/* A failed socket call (a refused connection): errno, which
		 * libevent restores for deferred callbacks.  A bare close leaves
		 * errno as an earlier call set it, typically EAGAIN. */
		if (saved != 0 && saved != EAGAIN && saved != EINTR && saved != EINPROGRESS) {
			snprintf(buf, len, "%s", evutil_socket_error_to_string(saved));
			return CHUBBY_E_CONN;
		}
		if (ssl != NULL && !SSL_is_init_finished(ssl)) {
			snprintf(buf, len, "tls: connection closed during the handshake");
			return CHUBBY_E_TLS;
		}
		snprintf(buf, len, "connection closed");
		return CHUBBY_E_CONN;
	}
	tls_err_reason(cause, reason, sizeof reason);
	snprintf(buf, len, "tls: %s", reason);
	if (ERR_SYSTEM_ERROR(cause))
		status = CHUBBY_E_CONN;
	if (ERR_GET_LIB(cause) == ERR_LIB_SSL)
		for (size_t i = 0; i < sizeof tls_explain / sizeof tls_explain[0]; i++)
			if (tls_explain[i].reason == ERR_GET_REASON(cause)) {
				snprintf(buf, len, "tls: %s (%s)", tls_explain[i].text, reason);
				if (tls_explain[i].final)
					status = CHUBBY_E_AUTH;
				break;
			}
	/* "certificate verify failed" alone does not say what was wrong. */
	if (ssl != NULL && (vr = SSL_get_verify_result(ssl)) != X509_V_OK) {
		n = strlen(buf);
		if (n < len)
			snprintf(buf + n, len - n, ": %s", X509_verify_cert_error_string(vr));
		/* What is wrong with one peer's own certificate is that peer's
		 * fault, not the cell's: a revoked or expired replica
		 * certificate, or one not valid yet (perhaps a clock a little
		 * behind the CA's).  The other replicas may serve, so this is
		 * not final.  A CA we do not trust is (every replica has the
		 * same one). */
		if (vr == X509_V_ERR_CERT_NOT_YET_VALID || vr == X509_V_ERR_CERT_REVOKED ||
		    vr == X509_V_ERR_CERT_HAS_EXPIRED)
			status = CHUBBY_E_TLS;
	}
	return status;
}

static int
tls_tp_input_pending(struct tp *tp, struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	(void)tp;
	return ssl != NULL && SSL_has_pending(ssl);
}

static int
tls_tp_revoked(struct tp *tp, struct bufferevent *bev, char *why, size_t len)
{
	struct tls_ctx *ctx = tp_impl(tp);
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl == NULL || !SSL_is_init_finished(ssl))
		return 0;
	return tls_cert_revoked(ctx, SSL_get0_peer_certificate(ssl), why, len);
}

/* SSL_write with the connection's lock held (tp_write_now).  Anything but
 * the whole of DATA, or as much as SSL_MODE_ENABLE_PARTIAL_WRITE lets out,
 * is 0: the caller queues all of it, and libevent's next SSL_write of the
 * same bytes finishes a record OpenSSL holds or meets the error and
 * reports it on the loop thread.  The errors this thread's queue got are
 * dropped: they are the loop's to find, not the application's. */
static size_t
tls_tp_write_now(struct tp *tp, struct bufferevent *bev, const void *data, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	int n;

	(void)tp;
	if (ssl == NULL || !SSL_is_init_finished(ssl) || len > INT_MAX)
		return 0;
	n = SSL_write(ssl, data, (int)len);
	if (n <= 0) {
		ERR_clear_error();
		return 0;
	}
	return (size_t)n;
}

static const struct tp_ops tls_tp_ops = {
    .name = "tls",
    .write_now = tls_tp_write_now,
    .revoked = tls_tp_revoked,
    .wrap = tls_tp_wrap,
    .identity = tls_tp_identity,
    .error_string = tls_tp_error_string,
    .input_pending = tls_tp_input_pending,
};

struct tp *
tp_tls_new(struct tls_ctx *ctx)
{
	if (ctx == NULL)
		return NULL;
	return tp_new(&tls_tp_ops, ctx);
}
