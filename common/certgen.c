/* certgen.c: makes, loads, writes and describes certificates of the chubby profile. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
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


/* "WHAT: REASON" from the oldest queued OpenSSL error, which is then cleared;
 * CHUBBY_E_IO for a system error, else STATUS. */
int
certgen_fail(char *err, size_t errlen, int status, const char *what)
{
	unsigned long e = ERR_peek_error();
	char reason[200];

	if (e == 0)
		snprintf(reason, sizeof reason, "unknown error");
	else if (ERR_SYSTEM_ERROR(e)) {
		snprintf(reason, sizeof reason, "%s", strerror(ERR_GET_REASON(e)));
		status = CHUBBY_E_IO;
	} else if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
		snprintf(reason, sizeof reason, "no PEM data found");
	else if (ERR_reason_error_string(e) != NULL)
		snprintf(reason, sizeof reason, "%s", ERR_reason_error_string(e));
	else
		ERR_error_string_n(e, reason, sizeof reason);
	ERR_clear_error();
	snprintf(err, errlen, "%s: %s", what, reason);
	return status;
}

int
certgen_nomem(char *err, size_t errlen)
{
	ERR_clear_error();
	snprintf(err, errlen, "certgen: out of memory");
	return CHUBBY_E_NOMEM;
}

/* Never prompts for a pass phrase; notes in *ARG that one was wanted. */
int
certgen_no_password(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(int *)arg = 1;
	return -1;
}

struct certgen *
certgen_alloc(void)
{
	return calloc(1, sizeof(struct certgen));
}

void
certgen_free(struct certgen *c)
{
	if (c == NULL)
		return;
	X509_free(c->cert);
	EVP_PKEY_free(c->key);
	free(c);
}

const char *
certgen_cell(const struct certgen *c)
{
	return c->cell;
}

const char *
certgen_kind_name(enum certgen_kind kind)
{
	switch (kind) {
	case CERTGEN_CA:
		return "CA";
	case CERTGEN_REPLICA:
		return "replica";
	case CERTGEN_CLIENT:
		return "client";
	case CERTGEN_UNKNOWN:
		break;
	}
	return "unknown";
}

/* The cert's O into CELL, or "" if it has none or it is unusable. */
static void
certgen_read_cell(X509 *x, char *cell, size_t len)
{
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_organizationName, cell,
		(int)len) < 0)
		cell[0] = '\0';
	ERR_clear_error();
}

/* A new EC P-256 key: the smallest curve everyone implements well, fast to
 * sign with, and 128-bit security, which is plenty. */
EVP_PKEY *
certgen_keygen(void)
{
	EVP_PKEY_CTX *kctx;
	EVP_PKEY *key = NULL;

	kctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (kctx == NULL)
		return NULL;
	if (EVP_PKEY_keygen_init(kctx) != 1 || EVP_PKEY_CTX_set_group_name(kctx, "P-256") != 1 ||
	    EVP_PKEY_generate(kctx, &key) != 1)
		key = NULL;
	EVP_PKEY_CTX_free(kctx);
	return key;
}

/* A random positive 127-bit serial number: unique without keeping state. */
static int
certgen_serial(X509 *x)
{
	unsigned char b[16];
	ASN1_INTEGER *ai = NULL;
	BIGNUM *bn;
	int ok = 0;

	if (RAND_bytes(b, sizeof b) != 1)
		return 0;
	b[0] = (unsigned char)((b[0] & 0x7f) | 0x40);
	bn = BN_bin2bn(b, sizeof b, NULL);
	if (bn != NULL)
		ai = BN_to_ASN1_INTEGER(bn, NULL);
	if (ai != NULL)
		ok = X509_set_serialNumber(x, ai) == 1;
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return ok;
}

static int
certgen_name_add(X509_NAME *n, int nid, const char *value)
{
	return X509_NAME_add_entry_by_NID(n, nid, MBSTRING_UTF8, (const unsigned char *)value, -1,
	    -1, 0) == 1;
}

/* Sets an offset of SECS seconds from now; days and seconds are passed
 * apart so that long offsets survive a 32-bit long. */
static int
certgen_time(ASN1_TIME *t, int64_t secs)
{
	return X509_time_adj_ex(t, (int)(secs / 86400), (long)(secs % 86400), NULL) != NULL;
}

/*
 * Fills C (whose key is set) with a certificate for O=CELL, OU=OU, CN=CN,
 * valid from NB to NA seconds from now, with extensions EXTS, signed by
 * ISSUER (NULL: self-signed).
 */
static int
certgen_build(struct certgen *c, const struct certgen *issuer, const char *cell, const char *ou,
    const char *cn, int64_t nb, int64_t na, const struct certgen_ext *exts, size_t nexts,
    char *err, size_t errlen)
{
	X509V3_CTX v3;
	X509_NAME *subj;
	X509 *x;

	x = c->cert = X509_new();
	if (x == NULL)
		return certgen_nomem(err, errlen);
	subj = X509_get_subject_name(x);
	if (X509_set_version(x, 2) != 1 || !certgen_serial(x) ||
	    !certgen_name_add(subj, NID_organizationName, cell) ||
	    !certgen_name_add(subj, NID_organizationalUnitName, ou) ||
	    !certgen_name_add(subj, NID_commonName, cn) ||
	    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer->cert) : subj) != 1 ||
	    !certgen_time(X509_getm_notBefore(x), nb) || !certgen_time(X509_getm_notAfter(x), na) ||
	    X509_set_pubkey(x, c->key) != 1)
		return certgen_fail(err, errlen, CHUBBY_E_TLS, "certgen: cannot fill certificate");
	/* The issuer's subjectKeyIdentifier feeds our authorityKeyIdentifier,
	 * so a self-signed certificate adds its own first (EXTS lists it
	 * before the authority key id). */
	X509V3_set_ctx(&v3, issuer != NULL ? issuer->cert : x, x, NULL, NULL, 0);
	for (size_t i = 0; i < nexts; i++) {
		X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].value);
		int ok;

		if (ext == NULL) {
			char what[160];
			snprintf(what, sizeof what, "certgen: bad extension %s = %s",
			    OBJ_nid2sn(exts[i].nid), exts[i].value);
			return certgen_fail(err, errlen, CHUBBY_E_INVALID, what);
		}
		ok = X509_add_ext(x, ext, -1) == 1;
		X509_EXTENSION_free(ext);
		if (!ok)
			return certgen_fail(err, errlen, CHUBBY_E_TLS, "certgen: cannot add extension");
	}
	/* ECDSA with SHA-256, the pair TLS 1.3 calls ecdsa_secp256r1_sha256. */
	if (X509_sign(x, issuer != NULL ? issuer->key : c->key, EVP_sha256()) <= 0)
		return certgen_fail(err, errlen, CHUBBY_E_TLS, "certgen: cannot sign certificate");
	snprintf(c->cell, sizeof c->cell, "%s", cell);
	return CHUBBY_OK;
}

int
certgen_check_window(int64_t nb, int64_t na, char *err, size_t errlen)
{
	/* X509_time_adj_ex takes whole days as an int. */
	const int64_t limit = (int64_t)100000 * 86400;

	if (nb >= na || nb < -limit || na > limit) {
		snprintf(err, errlen, "certgen: bad validity window (%lld to %lld seconds from now)",
		    (long long)nb, (long long)na);
		return CHUBBY_E_INVALID;
	}
	return CHUBBY_OK;
}

int
certgen_ca(const char *cell, int64_t not_before, int64_t not_after, struct certgen **out,
    char *err, size_t errlen)
{
	static const struct certgen_ext exts[] = {
	    /* pathlen:0: the CA signs leaves only, never another CA. */
	    {NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
	    {NID_key_usage, "critical,keyCertSign,cRLSign"},
	    {NID_subject_key_identifier, "hash"},
	    {NID_authority_key_identifier, "keyid:always"},
	};
	struct certgen *c;
	char cn[TP_NAME_MAX + 16];
	int rc;

	*out = NULL;
	if (!tls_cell_valid(cell)) {
		snprintf(err, errlen,
		    "certgen: bad cell name \"%s\" (1 to 64 letters, digits, '.', '_', '-')",
		    cell != NULL ? cell : "");
		return CHUBBY_E_INVALID;
	}
	if ((rc = certgen_check_window(not_before, not_after, err, errlen)) != CHUBBY_OK)
		return rc;
	if ((c = certgen_alloc()) == NULL)
		return certgen_nomem(err, errlen);
	if ((c->key = certgen_keygen()) == NULL) {
		certgen_free(c);
		return certgen_fail(err, errlen, CHUBBY_E_TLS, "certgen: cannot make a key");
	}
	snprintf(cn, sizeof cn, "chubby %s CA", cell);
	rc = certgen_build(c, NULL, cell, TLS_OU_CA, cn, not_before, not_after, exts,
	    sizeof exts / sizeof exts[0], err, errlen);
	if (rc != CHUBBY_OK) {
		certgen_free(c);
		return rc;
	}
	*out = c;
	return CHUBBY_OK;
}

static int
certgen_dns_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 253 || name[0] == '-' || name[0] == '.')
		return 0;
	for (const char *p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return 0;
	return 1;
}

/* "IP:a,IP:b,DNS:localhost,DNS:c" for a replica, in SAN (LEN bytes). */
static int
certgen_sans(const struct certgen_req *req, char *san, size_t len, char *err, size_t errlen)
{
	char def[32];
	const char *const *ips = req->ips;
	size_t nips = req->nips, used = 0;
	const char *one[1];

	if (req->nips == 0) {
		if (req->replica_id + 10 > 255) {
			snprintf(err, errlen,
			    "certgen: replica %d has no default address 127.0.0.%d; give its addresses",
			    req->replica_id, req->replica_id + 10);
			return CHUBBY_E_INVALID;
		}
		snprintf(def, sizeof def, "127.0.0.%d", req->replica_id + 10);
		one[0] = def;
		ips = one;
		nips = 1;
	}
	if (nips + 1 + req->ndns > CERTGEN_MAX_SANS) {
		snprintf(err, errlen, "certgen: at most %d addresses and names", CERTGEN_MAX_SANS);
		return CHUBBY_E_INVALID;
	}
	san[0] = '\0';
	for (size_t i = 0; i < nips; i++) {
		unsigned char bin[sizeof(struct in6_addr)];

		if (ips[i] == NULL || (inet_pton(AF_INET, ips[i], bin) != 1 &&
					  inet_pton(AF_INET6, ips[i], bin) != 1)) {
			snprintf(err, errlen, "certgen: \"%s\" is not an IP address",
			    ips[i] != NULL ? ips[i] : "");
			return CHUBBY_E_INVALID;
		}
		used += (size_t)snprintf(san + used, len - used, "IP:%s,", ips[i]);
		if (used >= len)
			goto too_long;
	}
	used += (size_t)snprintf(san + used, len - used, "DNS:localhost");
	if (used >= len)
		goto too_long;
	for (size_t i = 0; i < req->ndns; i++) {
		if (req->dns[i] == NULL || !certgen_dns_valid(req->dns[i])) {
			snprintf(err, errlen, "certgen: \"%s\" is not a DNS name",
			    req->dns[i] != NULL ? req->dns[i] : "");
			return CHUBBY_E_INVALID;
		}
		used += (size_t)snprintf(san + used, len - used, ",DNS:%s", req->dns[i]);
		if (used >= len)
			goto too_long;
	}
	return CHUBBY_OK;
too_long:
	snprintf(err, errlen, "certgen: subject alternative names too long");
	return CHUBBY_E_INVALID;
}

int
certgen_leaf(const struct certgen *ca, const struct certgen_req *req, EVP_PKEY *key,
    int key_is_public, struct certgen **out, char *err, size_t errlen)
{
	struct certgen_ext exts[6];
	size_t nexts = 0;
	struct certgen *c;
	char cn[TP_NAME_MAX], san[CERTGEN_MAX_SANS * 64];
	const char *ou;
	int rc;

	*out = NULL;
	if (ca == NULL || ca->key == NULL || ca->cert == NULL || X509_check_ca(ca->cert) == 0) {
		snprintf(err, errlen, "certgen: the issuer must be a CA with its key");
		goto invalid;
	}
	if ((rc = certgen_check_window(req->not_before, req->not_after, err, errlen)) != CHUBBY_OK)
		goto bad;
	exts[nexts++] = (struct certgen_ext){NID_basic_constraints, "critical,CA:FALSE"};
	/* digitalSignature is all an ECDSA key does in a TLS 1.3 handshake. */
	exts[nexts++] = (struct certgen_ext){NID_key_usage, "critical,digitalSignature"};
	switch (req->kind) {
	case CERTGEN_REPLICA:
		if (req->replica_id < 1 || req->replica_id > TLS_MAX_REPLICA_ID) {
			snprintf(err, errlen, "certgen: replica id %d is not in 1..%d",
			    req->replica_id, TLS_MAX_REPLICA_ID);
			goto invalid;
		}
		if ((rc = certgen_sans(req, san, sizeof san, err, errlen)) != CHUBBY_OK)
			goto bad;
		snprintf(cn, sizeof cn, "%s%d", TLS_REPLICA_PREFIX, req->replica_id);
		ou = TLS_OU_REPLICA;
		/* Replicas serve clients and peers, and dial their peers. */
		exts[nexts++] = (struct certgen_ext){NID_ext_key_usage, "serverAuth,clientAuth"};
		exts[nexts++] = (struct certgen_ext){NID_subject_alt_name, san};
		break;
	case CERTGEN_CLIENT:
		if (!tls_principal_valid(req->name)) {
			snprintf(err, errlen,
			    "certgen: bad client name \"%s\" (1 to 64 letters, digits, '.', '_', "
			    "'@', '-')",
			    req->name != NULL ? req->name : "");
			goto invalid;
		}
		snprintf(cn, sizeof cn, "%s", req->name);
		ou = TLS_OU_CLIENT;
		/* clientAuth only: OpenSSL's purpose check then refuses this
		 * certificate on the serving side of any handshake. */
		exts[nexts++] = (struct certgen_ext){NID_ext_key_usage,
		    req->serve ? "serverAuth,clientAuth" : "clientAuth"};
		break;
	case CERTGEN_CA:
	case CERTGEN_UNKNOWN:
	default:
		snprintf(err, errlen, "certgen: can issue replica and client certificates only");
		goto invalid;
	}
	exts[nexts++] = (struct certgen_ext){NID_subject_key_identifier, "hash"};
	exts[nexts++] = (struct certgen_ext){NID_authority_key_identifier, "keyid:always"};

	if ((c = certgen_alloc()) == NULL) {
		EVP_PKEY_free(key);
		return certgen_nomem(err, errlen);
	}
	c->key = key;
	c->key_is_public = key_is_public;
	rc = certgen_build(c, ca, ca->cell, ou, cn, req->not_before, req->not_after, exts, nexts,
	    err, errlen);
	if (rc != CHUBBY_OK) {
		certgen_free(c);
		return rc;
	}
	*out = c;
	return CHUBBY_OK;
invalid:
	rc = CHUBBY_E_INVALID;
bad:
	EVP_PKEY_free(key);
	return rc;
}

int
certgen_issue(const struct certgen *ca, const struct certgen_req *req, struct certgen **out,
    char *err, size_t errlen)
{
	EVP_PKEY *key;

	*out = NULL;
	if ((key = certgen_keygen()) == NULL)
		return certgen_fail(err, errlen, CHUBBY_E_TLS, "certgen: cannot make a key");
	return certgen_leaf(ca, req, key, 0, out, err, errlen);
}

int
certgen_load(const char *cert_file, const char *key_file, struct certgen **out, char *err,
    size_t errlen)
{
	struct certgen *c;
	char what[PATH_MAX + 64];
	int encrypted = 0;
	BIO *bio;

	*out = NULL;
	ERR_clear_error();
	if ((c = certgen_alloc()) == NULL)
		return certgen_nomem(err, errlen);
	snprintf(what, sizeof what, "cannot load certificate %s", cert_file);
	bio = BIO_new_file(cert_file, "r");
	if (bio == NULL)
		goto fail;
	c->cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (c->cert == NULL)
		goto fail;
	certgen_read_cell(c->cert, c->cell, sizeof c->cell);
	if (key_file != NULL) {
		snprintf(what, sizeof what, "cannot load private key %s", key_file);
		bio = BIO_new_file(key_file, "r");
		if (bio == NULL)
			goto fail;
		c->key = PEM_read_bio_PrivateKey(bio, NULL, certgen_no_password, &encrypted);
		BIO_free(bio);
		if (c->key == NULL && encrypted) {
			ERR_clear_error();
			snprintf(err, errlen,
			    "private key %s is encrypted; only unencrypted keys can be used",
			    key_file);
			certgen_free(c);
			return CHUBBY_E_TLS;
		}
		if (c->key == NULL)
			goto fail;
		if (X509_check_private_key(c->cert, c->key) != 1) {
			ERR_clear_error();
			snprintf(err, errlen, "private key %s does not match certificate %s", key_file,
			    cert_file);
			certgen_free(c);
			return CHUBBY_E_TLS;
		}
	}
	*out = c;
	return CHUBBY_OK;
fail:
	certgen_free(c);
	return certgen_fail(err, errlen, CHUBBY_E_TLS, what);
}

/*
 * Writing.
 */

static int
certgen_pem_cert(BIO *bio, const void *arg)
{
	const struct certgen *c = arg;

	return PEM_write_bio_X509(bio, c->cert) == 1;
}

static int
certgen_pem_key(BIO *bio, const void *arg)
{
	const struct certgen *c = arg;

	/* PKCS#8, unencrypted: daemons start unattended; the file mode is the
	 * protection. */
	return PEM_write_bio_PrivateKey(bio, c->key, NULL, NULL, 0, NULL, NULL) == 1;
}

/* Writes PATH with MODE through a temporary file in the same directory. */
int
certgen_write_one(const char *path, mode_t mode, int flags, const void *c,
    int (*pem)(BIO *, const void *), char *err, size_t errlen)
{
	size_t n = strlen(path);
	char *tmp;
	BIO *bio;
	int fd, ok, saved;

	if (!(flags & CERTGEN_OVERWRITE) && access(path, F_OK) == 0) {
		snprintf(err, errlen, "%s already exists", path);
		return CHUBBY_E_EXISTS;
	}
	if ((tmp = malloc(n + 8)) == NULL)
		return certgen_nomem(err, errlen);
	memcpy(tmp, path, n);
	memcpy(tmp + n, ".XXXXXX", 8);
	/* mkstemp creates the file 0600: a key is never readable by others,
	 * even before the fchmod below. */
	fd = mkstemp(tmp);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return CHUBBY_E_IO;
	}
	if (fchmod(fd, mode) != 0)
		goto sys_fail;
	bio = BIO_new_fd(fd, BIO_NOCLOSE);
	if (bio == NULL) {
		close(fd);
		unlink(tmp);
		free(tmp);
		return certgen_nomem(err, errlen);
	}
	ok = pem(bio, c) && BIO_flush(bio) == 1;
	BIO_free(bio);
	if (!ok) {
		close(fd);
		unlink(tmp);
		free(tmp);
		return certgen_fail(err, errlen, CHUBBY_E_TLS, "cannot write PEM");
	}
	if (fsync(fd) != 0)
		goto sys_fail;
	if (close(fd) != 0) {
		fd = -1;
		goto sys_fail;
	}
	fd = -1;
	if (flags & CERTGEN_OVERWRITE) {
		if (rename(tmp, path) != 0)
			goto sys_fail;
	} else {
		/* link() fails if PATH appeared meanwhile: never clobber. */
		if (link(tmp, path) != 0)
			goto sys_fail;
		unlink(tmp);
	}
	free(tmp);
	return CHUBBY_OK;
sys_fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	snprintf(err, errlen, "cannot write %s: %s", path, strerror(saved));
	return saved == EEXIST ? CHUBBY_E_EXISTS : CHUBBY_E_IO;
}

int
certgen_write(const struct certgen *c, const char *cert_file, const char *key_file, int flags,
    char *err, size_t errlen)
{
	int rc;

	if (c == NULL || c->cert == NULL || cert_file == NULL ||
	    (key_file != NULL && (c->key == NULL || c->key_is_public))) {
		snprintf(err, errlen, "certgen: nothing to write");
		return CHUBBY_E_INVALID;
	}
	if (!(flags & CERTGEN_OVERWRITE)) {
		/* Check both before writing either, so a refusal leaves no half pair. */
		if (access(cert_file, F_OK) == 0 || (key_file != NULL && access(key_file, F_OK) == 0)) {
			snprintf(err, errlen, "%s already exists",
			    access(cert_file, F_OK) == 0 ? cert_file : key_file);
			return CHUBBY_E_EXISTS;
		}
	}
	/* The key first: a certificate on disk without its key is useless, and
	 * a reader that finds the certificate then finds the key too. */
	if (key_file != NULL) {
		rc = certgen_write_one(key_file, 0600, flags, c, certgen_pem_key, err, errlen);
		if (rc != CHUBBY_OK)
			return rc;
	}
	return certgen_write_one(cert_file, 0644, flags, c, certgen_pem_cert, err, errlen);
}

int
certgen_print(const struct certgen *c, FILE *f, char *err, size_t errlen)
{
	BIO *bio = BIO_new_fp(f, BIO_NOCLOSE);
	int ok;

	if (bio == NULL)
		return certgen_nomem(err, errlen);
	ok = certgen_pem_cert(bio, c) && BIO_flush(bio) == 1;
	BIO_free(bio);
	if (!ok)
		return certgen_fail(err, errlen, CHUBBY_E_IO, "cannot write the certificate");
	return CHUBBY_OK;
}

/*
 * Describing.
 */

static void
certgen_name_line(const X509_NAME *name, char *buf, size_t len)
{
	BIO *mem = BIO_new(BIO_s_mem());
	int n;

	buf[0] = '\0';
	if (mem == NULL)
		return;
	if (X509_NAME_print_ex(mem, name, 0, XN_FLAG_RFC2253) >= 0) {
		n = BIO_read(mem, buf, (int)len - 1);
		buf[n > 0 ? n : 0] = '\0';
	}
	BIO_free(mem);
}

static void
certgen_append(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);

	if (n < len)
		snprintf(buf + n, len - n, "%s%s", n > 0 ? ", " : "", s);
}

static void
certgen_san_line(X509 *x, char *buf, size_t len)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	char one[INET6_ADDRSTRLEN + 8], addr[INET6_ADDRSTRLEN];

	buf[0] = '\0';
	if (gens == NULL)
		return;
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *d;
		int dlen;

		if (g->type == GEN_DNS) {
			d = ASN1_STRING_get0_data(g->d.dNSName);
			dlen = ASN1_STRING_length(g->d.dNSName);
			snprintf(one, sizeof one, "DNS:%.*s", dlen, (const char *)d);
		} else if (g->type == GEN_IPADD) {
			d = ASN1_STRING_get0_data(g->d.iPAddress);
			dlen = ASN1_STRING_length(g->d.iPAddress);
			if (dlen == 4)
				inet_ntop(AF_INET, d, addr, sizeof addr);
			else if (dlen == 16)
				inet_ntop(AF_INET6, d, addr, sizeof addr);
			else
				snprintf(addr, sizeof addr, "?");
			snprintf(one, sizeof one, "IP:%s", addr);
		} else
			snprintf(one, sizeof one, "other");
		certgen_append(buf, len, one);
	}
	GENERAL_NAMES_free(gens);
}

static int64_t
certgen_unix_time(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof tm);
	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

int
certgen_inspect(const char *file, struct certgen_info *out, char *err, size_t errlen)
{
	struct certgen *c;
	struct tp_identity id;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint32_t xku;
	X509 *x;
	int rc;

	memset(out, 0, sizeof *out);
	out->replica_id = -1;
	if ((rc = certgen_load(file, NULL, &c, err, errlen)) != CHUBBY_OK)
		return rc;
	x = c->cert;
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out->name,
	    sizeof out->name);
	snprintf(out->cell, sizeof out->cell, "%s", c->cell);
	certgen_name_line(X509_get_subject_name(x), out->subject, sizeof out->subject);
	certgen_name_line(X509_get_issuer_name(x), out->issuer, sizeof out->issuer);
	certgen_san_line(x, out->sans, sizeof out->sans);
	if (X509_get_extension_flags(x) & EXFLAG_XKUSAGE) {
		xku = X509_get_extended_key_usage(x);
		if (xku & XKU_SSL_SERVER)
			certgen_append(out->usage, sizeof out->usage, "serverAuth");
		if (xku & XKU_SSL_CLIENT)
			certgen_append(out->usage, sizeof out->usage, "clientAuth");
	}
	out->not_before = certgen_unix_time(X509_get0_notBefore(x));
	out->not_after = certgen_unix_time(X509_get0_notAfter(x));
	if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1)
		for (unsigned int i = 0; i < mdlen && 3 * i + 3 <= sizeof out->sha256; i++)
			snprintf(out->sha256 + 3 * i, sizeof out->sha256 - 3 * i,
			    i + 1 < mdlen ? "%02X:" : "%02X", md[i]);
	if (X509_check_ca(x) != 0)
		out->kind = CERTGEN_CA;
	else if (tls_cert_identity(x, NULL, &id, out->problem, sizeof out->problem) == CHUBBY_OK) {
		out->kind = id.kind == TP_PEER_REPLICA ? CERTGEN_REPLICA : CERTGEN_CLIENT;
		out->replica_id = id.replica_id;
	}
	ERR_clear_error();
	certgen_free(c);
	return CHUBBY_OK;
}
