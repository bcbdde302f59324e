/*
 * certsign.c: the CA holder's other jobs: signing a certificate request made
 * elsewhere (the requester keeps its private key), keeping the list of
 * revoked certificates and the CRL made from it, and making a sequencer key.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chubby/chubby.h>

#include "certgen.h"
#include "certgen_int.h"
#include "tls.h"

/*
 * Certificate requests.
 */

/* Only keys as strong as the profile's own (EC P-256): EC on a curve of at
 * least 256 bits, or RSA of at least 2048 bits. */
static int
certsign_key_ok(EVP_PKEY *key, char *err, size_t errlen)
{
	int bits = EVP_PKEY_get_bits(key);

	if (EVP_PKEY_is_a(key, "EC") && bits >= 256)
		return 1;
	if (EVP_PKEY_is_a(key, "RSA") && bits >= 2048)
		return 1;
	snprintf(err, errlen, "the request's key (%s, %d bits) is too weak or of an unsupported "
			      "type: use EC P-256 (or RSA of 2048 bits or more)",
	    EVP_PKEY_get0_type_name(key) != NULL ? EVP_PKEY_get0_type_name(key) : "?", bits);
	return 0;
}

/* 1 if the request's subject asks for more than a client certificate: a
 * replica's or the CA's OU, or a replica's CN.  WHAT gets the words. */
static int
certsign_asks_replica(X509_REQ *csr, char *what, size_t len)
{
	X509_NAME *subj = X509_REQ_get_subject_name(csr);
	char ou[TP_NAME_MAX] = "", cn[TP_NAME_MAX] = "";
	int id;

	if (X509_NAME_get_text_by_NID(subj, NID_organizationalUnitName, ou,
		sizeof ou) < 0)
		ou[0] = '\0';
	if (X509_NAME_get_text_by_NID(subj, NID_commonName, cn, sizeof cn) < 0)
		cn[0] = '\0';
	ERR_clear_error();
	if (strcmp(ou, TLS_OU_REPLICA) == 0 || strcmp(ou, TLS_OU_CA) == 0 ||
	    tls_replica_id_parse(cn, &id) == 0) {
		snprintf(what, len, "OU=%s, CN=%s", ou[0] != '\0' ? ou : "(none)",
		    cn[0] != '\0' ? cn : "(none)");
		return 1;
	}
	return 0;
}

int
certgen_csr_name(const char *csr_file, char *name, size_t len, char *err, size_t errlen)
{
	X509_REQ *csr;
	BIO *bio;
	char what[PATH_MAX + 64];

	ERR_clear_error();
	snprintf(what, sizeof what, "cannot read certificate request %s", csr_file);
	if ((bio = BIO_new_file(csr_file, "r")) == NULL)
		return certgen_fail(err, errlen, CHUBBY_E_IO, what);
	csr = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (csr == NULL)
		return certgen_fail(err, errlen, CHUBBY_E_TLS, what);
	if (X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(csr), NID_commonName, name,
		(int)len) < 0)
		name[0] = '\0';
	ERR_clear_error();
	X509_REQ_free(csr);
	return CHUBBY_OK;
}

int
certgen_sign_csr(const struct certgen *ca, const char *csr_file, const struct certgen_req *req,
    struct certgen **out, char *err, size_t errlen)
{
	char what[PATH_MAX + 64], asked[160];
	X509_REQ *csr;
	EVP_PKEY *key;
	BIO *bio;

	*out = NULL;
	ERR_clear_error();
	snprintf(what, sizeof what, "cannot read certificate request %s", csr_file);
	if ((bio = BIO_new_file(csr_file, "r")) == NULL)
		return certgen_fail(err, errlen, CHUBBY_E_IO, what);
	csr = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (csr == NULL)
		return certgen_fail(err, errlen, CHUBBY_E_TLS, what);
	/* The request is signed with the key it asks a certificate for: this
	 * proves its maker holds that key. */
	key = X509_REQ_get_pubkey(csr);
	if (key == NULL || X509_REQ_verify(csr, key) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "certificate request %s is not signed by its own key",
		    csr_file);
		goto fail;
	}
	if (!certsign_key_ok(key, err, errlen))
		goto fail;
	/* Nothing of the request's subject is copied: the CA holder names
	 * what the certificate is for.  A request that asks for a replica's
	 * role gets one only when the holder says which replica. */
	if (req->kind != CERTGEN_REPLICA && certsign_asks_replica(csr, asked, sizeof asked)) {
		snprintf(err, errlen,
		    "certificate request %s asks for a replica or CA certificate (%s); sign it as "
		    "replica N with --id N only if that is meant",
		    csr_file, asked);
		EVP_PKEY_free(key);
		X509_REQ_free(csr);
		return CHUBBY_E_PERMISSION;
	}
	X509_REQ_free(csr);
	return certgen_leaf(ca, req, key, 1, out, err, errlen);
fail:
	EVP_PKEY_free(key);
	X509_REQ_free(csr);
	return CHUBBY_E_TLS;
}

/*
 * Revocation.  The index is a text file, one revoked certificate a line:
 * "SERIAL UNIX-TIME NAME" (serial in upper-case hex, as OpenSSL prints it;
 * the time of revocation; the certificate's CN, for people).  The CRL is
 * made from it, signed by the CA, each time it changes.
 */

/* The serial of X as upper-case hex in BUF. */
static int
certsign_serial_hex(X509 *x, char *buf, size_t len)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	int ok = hex != NULL && strlen(hex) < len;

	if (ok)
		snprintf(buf, len, "%s", hex);
	OPENSSL_free(hex);
	BN_free(bn);
	return ok;
}

/* 1 if SERIAL is listed in INDEX (a missing file lists nothing), 0 if not,
 * -1 if it cannot be read. */
static int
certsign_listed(const char *index, const char *serial)
{
	char line[512], s[128];
	FILE *f = fopen(index, "r");
	int found = 0;

	if (f == NULL)
		return errno == ENOENT ? 0 : -1;
	while (!found && fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "%127s", s) == 1 && strcmp(s, serial) == 0)
			found = 1;
	fclose(f);
	return found;
}

int
certgen_revoke(const struct certgen *ca, const char *cert_file, const char *index_file,
    char *serial, size_t seriallen, char *err, size_t errlen)
{
	struct certgen *c = NULL;
	EVP_PKEY *capub;
	char name[TP_NAME_MAX] = "";
	FILE *f;
	int rc, listed;

	if ((rc = certgen_load(cert_file, NULL, &c, err, errlen)) != CHUBBY_OK)
		return rc;
	/* Only what this CA signed: a CRL lists serials of its own issuer, and
	 * a serial from another CA's certificate would name nothing. */
	capub = X509_get0_pubkey(ca->cert);
	if (capub == NULL || X509_verify(c->cert, capub) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "%s was not signed by this CA", cert_file);
		rc = CHUBBY_E_INVALID;
		goto out;
	}
	if (!certsign_serial_hex(c->cert, serial, seriallen)) {
		rc = certgen_nomem(err, errlen);
		goto out;
	}
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(c->cert), NID_commonName, name,
		sizeof name) < 0)
		snprintf(name, sizeof name, "-");
	ERR_clear_error();
	for (char *p = name; *p != '\0'; p++)
		if (*p <= ' ' || *p > '~')
			*p = '?';
	listed = certsign_listed(index_file, serial);
	if (listed < 0) {
		snprintf(err, errlen, "cannot read %s: %s", index_file, strerror(errno));
		rc = CHUBBY_E_IO;
		goto out;
	}
	if (listed) {
		rc = CHUBBY_E_EXISTS;
		snprintf(err, errlen, "%s (serial %s) is already revoked", cert_file, serial);
		goto out;
	}
	f = fopen(index_file, "a");
	if (f == NULL || fprintf(f, "%s %lld %s\n", serial, (long long)time(NULL), name) < 0 ||
	    fflush(f) != 0 || fsync(fileno(f)) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", index_file, strerror(errno));
		rc = CHUBBY_E_IO;
	}
	if (f != NULL && fclose(f) != 0 && rc == CHUBBY_OK) {
		snprintf(err, errlen, "cannot write %s: %s", index_file, strerror(errno));
		rc = CHUBBY_E_IO;
	}
out:
	certgen_free(c);
	return rc;
}

/* Adds the entry of LINE ("SERIAL TIME NAME") to CRL. */
static int
certsign_crl_add(X509_CRL *crl, const char *line, char *err, size_t errlen)
{
	char serial[128];
	long long when;
	X509_REVOKED *rev = NULL;
	ASN1_INTEGER *ai = NULL;
	ASN1_TIME *t = NULL;
	BIGNUM *bn = NULL;
	int ok = 0;

	if (sscanf(line, "%127s %lld", serial, &when) != 2 || BN_hex2bn(&bn, serial) == 0) {
		snprintf(err, errlen, "bad line in the revocation index: %.80s", line);
		BN_free(bn);
		return CHUBBY_E_CONFIG;
	}
	if ((rev = X509_REVOKED_new()) != NULL && (ai = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
	    (t = ASN1_TIME_set(NULL, (time_t)when)) != NULL &&
	    X509_REVOKED_set_serialNumber(rev, ai) == 1 &&
	    X509_REVOKED_set_revocationDate(rev, t) == 1 && X509_CRL_add0_revoked(crl, rev) == 1) {
		rev = NULL; /* the CRL owns it now */
		ok = 1;
	}
	X509_REVOKED_free(rev);
	ASN1_INTEGER_free(ai);
	ASN1_TIME_free(t);
	BN_free(bn);
	if (!ok)
		return certgen_fail(err, errlen, CHUBBY_E_TLS, "certgen: cannot add to the CRL");
	return CHUBBY_OK;
}

static int
certsign_pem_crl(BIO *bio, const void *crl)
{
	return PEM_write_bio_X509_CRL(bio, crl) == 1;
}

int
certgen_crl(const struct certgen *ca, const char *index_file, const char *crl_file,
    int64_t next_update, char *err, size_t errlen)
{
	X509_CRL *crl;
	ASN1_TIME *t = NULL;
	ASN1_INTEGER *num = NULL;
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	char line[512];
	FILE *f = NULL;
	int rc = CHUBBY_OK;

	if (ca == NULL || ca->key == NULL || ca->key_is_public || X509_check_ca(ca->cert) == 0) {
		snprintf(err, errlen, "certgen: a CRL is signed by the CA with its key");
		return CHUBBY_E_INVALID;
	}
	if (next_update <= 0 || next_update > (int64_t)100000 * 86400) {
		snprintf(err, errlen, "certgen: bad CRL validity (%lld seconds)",
		    (long long)next_update);
		return CHUBBY_E_INVALID;
	}
	ERR_clear_error();
	if ((crl = X509_CRL_new()) == NULL)
		return certgen_nomem(err, errlen);
	/* lastUpdate a little in the past, as for certificates: a replica
	 * whose clock is behind must not see a CRL "from the future". */
	if (X509_CRL_set_version(crl, 1) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) != 1 ||
	    (t = X509_time_adj_ex(NULL, 0, -CERTGEN_BACKDATE, NULL)) == NULL ||
	    X509_CRL_set1_lastUpdate(crl, t) != 1 ||
	    X509_time_adj_ex(t, (int)(next_update / 86400), (long)(next_update % 86400), NULL) ==
		NULL ||
	    X509_CRL_set1_nextUpdate(crl, t) != 1) {
		rc = certgen_fail(err, errlen, CHUBBY_E_TLS, "certgen: cannot fill the CRL");
		goto out;
	}
	if ((f = fopen(index_file, "r")) == NULL && errno != ENOENT) {
		snprintf(err, errlen, "cannot read %s: %s", index_file, strerror(errno));
		rc = CHUBBY_E_IO;
		goto out;
	}
	while (f != NULL && fgets(line, sizeof line, f) != NULL)
		if (line[0] != '\n' && line[0] != '#' &&
		    (rc = certsign_crl_add(crl, line, err, errlen)) != CHUBBY_OK)
			goto out;
	/* A CRL number that only grows (RFC 5280 5.2.3): the time it was made. */
	X509V3_set_ctx(&v3, ca->cert, NULL, NULL, crl, 0);
	if ((num = ASN1_INTEGER_new()) == NULL || ASN1_INTEGER_set_int64(num, (int64_t)time(NULL)) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1 ||
	    (ext = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier, "keyid:always")) ==
		NULL) {
		rc = certgen_fail(err, errlen, CHUBBY_E_TLS, "certgen: cannot fill the CRL");
		goto out;
	}
	if (X509_CRL_add_ext(crl, ext, -1) != 1) {
		X509_EXTENSION_free(ext);
		rc = certgen_fail(err, errlen, CHUBBY_E_TLS, "certgen: cannot fill the CRL");
		goto out;
	}
	X509_EXTENSION_free(ext);
	if (X509_CRL_sort(crl) != 1 || X509_CRL_sign(crl, ca->key, EVP_sha256()) <= 0) {
		rc = certgen_fail(err, errlen, CHUBBY_E_TLS, "certgen: cannot sign the CRL");
		goto out;
	}
	rc = certgen_write_one(crl_file, 0644, CERTGEN_OVERWRITE, crl, certsign_pem_crl, err,
	    errlen);
out:
	if (f != NULL)
		fclose(f);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	return rc;
}

/*
 * Sequencer keys.
 */

static int
certsign_pem_seqkey(BIO *bio, const void *hex)
{
	return BIO_printf(bio, "%s\n", (const char *)hex) > 0;
}

int
certgen_seqkey(const char *path, char *err, size_t errlen)
{
	unsigned char key[CERTGEN_SEQKEY_BYTES];
	char hex[2 * CERTGEN_SEQKEY_BYTES + 1];
	int rc;

	if (RAND_bytes(key, sizeof key) != 1)
		return certgen_fail(err, errlen, CHUBBY_E_TLS, "certgen: no random bytes");
	for (size_t i = 0; i < sizeof key; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	/* 0600 from the start (certgen_write_one makes the file with
	 * mkstemp), and never over an existing key: replacing a cell's key
	 * makes every sequencer it signed unverifiable. */
	rc = certgen_write_one(path, 0600, 0, hex, certsign_pem_seqkey, err, errlen);
	OPENSSL_cleanse(key, sizeof key);
	OPENSSL_cleanse(hex, sizeof hex);
	return rc;
}
