/*
 * certgen.h: mints the certificates of the chubby profile (docs/TLS.md): a
 * cell CA, replica and client certificates signed by it, written as PEM
 * files.  Used by chubby-certs(1) and by tests, which can make certificates
 * that are expired, not yet valid, or from another CA.
 *
 * Every call returns a chubby status and, on failure, a message in ERR; no
 * OpenSSL type appears here.  Out of memory is CHUBBY_E_NOMEM, never an
 * abort (this is common/ code).
 */
#ifndef CHUBBY_CERTGEN_H
#define CHUBBY_CERTGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tls.h"

/* Default validity, in days. */
#define CERTGEN_CA_DAYS 3650
#define CERTGEN_LEAF_DAYS 730
/* Certificates start this many seconds in the past, so that a peer whose
 * clock is a little behind accepts a certificate made a moment ago. */
#define CERTGEN_BACKDATE 300

/* Subject alternative names one replica certificate may carry. */
#define CERTGEN_MAX_SANS 16

enum certgen_kind {
	CERTGEN_UNKNOWN = 0,
	CERTGEN_CA,
	CERTGEN_REPLICA,
	CERTGEN_CLIENT,
};

/* A certificate with its private key, in memory. */
struct certgen;

/* What a new leaf certificate should be. */
struct certgen_req {
	enum certgen_kind kind; /* CERTGEN_REPLICA or CERTGEN_CLIENT */
	int replica_id;         /* replica: 1..TLS_MAX_REPLICA_ID */
	const char *name;       /* client: the principal (tls_principal_valid) */
	/* Replica: IP addresses for the subjectAltName; none means
	 * 127.0.0.(10+id), the replica's address in a local cell.  DNS names
	 * come after "localhost", which every replica certificate carries. */
	const char *const *ips;
	size_t nips;
	const char *const *dns;
	size_t ndns;
	/* Validity as offsets in seconds from now; either may be negative, so a
	 * test can make a certificate that expired yesterday. */
	int64_t not_before;
	int64_t not_after;
	/* Client: also serverAuth, for a chubby-proxy that serves clients with
	 * the certificate whose principal the cell's `proxies` names
	 * (docs/PROXY.md). */
	bool serve;
};

/* A new self-signed CA for CELL (tls_cell_valid), valid from NOT_BEFORE to
 * NOT_AFTER seconds from now, in *OUT (free with certgen_free). */
int certgen_ca(const char *cell, int64_t not_before, int64_t not_after, struct certgen **out,
    char *err, size_t errlen);

/* A new key and a certificate for it as REQ says, signed by CA (which must
 * hold its key), in *OUT.  The leaf's O is the CA's cell.
 * CHUBBY_E_INVALID with a message for a bad request. */
int certgen_issue(const struct certgen *ca, const struct certgen_req *req, struct certgen **out,
    char *err, size_t errlen);

/* Loads a certificate and, if KEY_FILE is not NULL, its key (to sign with a
 * CA kept on disk).  CHUBBY_E_IO if a file cannot be read, CHUBBY_E_TLS if
 * it is not PEM of the right kind or the key does not match. */
int certgen_load(const char *cert_file, const char *key_file, struct certgen **out, char *err,
    size_t errlen);

/* Flags for certgen_write. */
#define CERTGEN_OVERWRITE 0x1

/*
 * Writes the certificate to CERT_FILE (mode 0644) and, if KEY_FILE is not
 * NULL, the unencrypted private key to KEY_FILE (mode 0600, never readable by
 * others even for a moment).  Each file is written under a temporary name and
 * renamed, so a reader never sees half a file.  Without CERTGEN_OVERWRITE an
 * existing file is left alone and the call fails with CHUBBY_E_EXISTS.
 */
int certgen_write(const struct certgen *c, const char *cert_file, const char *key_file,
    int flags, char *err, size_t errlen);

/* Writes the certificate as PEM to F (standard output, say). */
int certgen_print(const struct certgen *c, FILE *f, char *err, size_t errlen);

void certgen_free(struct certgen *c);

/* The cell (O) of a certificate; "" if it has none.  Valid while C lives. */
const char *certgen_cell(const struct certgen *c);

/*
 * Signs the certificate request (PEM PKCS#10) in CSR_FILE with CA: a
 * certificate as REQ says for the request's public key, so that the private
 * key never leaves its owner.  The request must be signed by its own key,
 * which must be EC of 256 bits or more or RSA of 2048 or more.  Nothing of
 * its subject is copied; a request whose subject asks for a replica or CA
 * certificate is refused with CHUBBY_E_PERMISSION unless REQ is for a
 * replica (the CA holder named it).  Write the result with certgen_write
 * and no key file.
 */
int certgen_sign_csr(const struct certgen *ca, const char *csr_file, const struct certgen_req *req,
    struct certgen **out, char *err, size_t errlen);

/* The CN a certificate request asks for, in NAME ("" if none). */
int certgen_csr_name(const char *csr_file, char *name, size_t len, char *err, size_t errlen);

/* Default validity of a CRL, in days: the CRL must be made again before
 * then (chubby-certs crl), or every peer refuses every certificate. */
#define CERTGEN_CRL_DAYS 365

/*
 * Adds the certificate in CERT_FILE, which CA must have signed, to the
 * revocation index INDEX_FILE (created if missing), and puts its serial as
 * hex in SERIAL.  CHUBBY_E_EXISTS if it is listed already.  Make the CRL
 * again afterwards (certgen_crl).
 */
int certgen_revoke(const struct certgen *ca, const char *cert_file, const char *index_file,
    char *serial, size_t seriallen, char *err, size_t errlen);

/* Writes CRL_FILE (PEM, mode 0644, atomically): every serial in INDEX_FILE
 * (none if it does not exist), signed by CA, next update NEXT_UPDATE
 * seconds from now. */
int certgen_crl(const struct certgen *ca, const char *index_file, const char *crl_file,
    int64_t next_update, char *err, size_t errlen);

/* Bytes of a sequencer key (seqtoken.h reads it). */
#define CERTGEN_SEQKEY_BYTES 32

/* Writes a new random sequencer key to PATH as hex (mode 0600); never over
 * an existing file (CHUBBY_E_EXISTS). */
int certgen_seqkey(const char *path, char *err, size_t errlen);

/* What a certificate file says, for chubby-certs show. */
struct certgen_info {
	enum certgen_kind kind; /* by OU, as tls_cert_identity decides */
	int replica_id;         /* replicas; else -1 */
	char name[TP_NAME_MAX]; /* CN */
	char cell[TP_NAME_MAX]; /* O */
	char subject[256];      /* one line, RFC 2253 */
	char issuer[256];
	char sans[256];         /* "IP:127.0.0.12, DNS:localhost"; "" if none */
	char usage[64];         /* "serverAuth, clientAuth"; "" if none */
	char problem[160];      /* why tls_cert_identity refuses it; "" if it accepts */
	int64_t not_before;     /* Unix time */
	int64_t not_after;
	char sha256[96];        /* "AB:CD:..." over the DER certificate */
};

/* Describes the first certificate in FILE. */
int certgen_inspect(const char *file, struct certgen_info *out, char *err, size_t errlen);

/* "CA", "replica", "client" or "unknown". */
const char *certgen_kind_name(enum certgen_kind kind);

#endif
