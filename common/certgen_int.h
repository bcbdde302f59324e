/*
 * certgen_int.h: what certgen.c shares with certsign.c (signing requests,
 * revocation lists).  Not for other modules: they see certgen.h only.
 */
#ifndef CHUBBY_CERTGEN_INT_H
#define CHUBBY_CERTGEN_INT_H

#include <sys/types.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certgen.h"

struct certgen {
	X509 *cert;
	EVP_PKEY *key;     /* NULL for a certificate loaded without its key */
	int key_is_public; /* KEY is the public half only (a CSR's): never written */
	char cell[TP_NAME_MAX];
};

/* One extension of a new certificate, in openssl.cnf's syntax. */
struct certgen_ext {
	int nid;
	const char *value;
};

int certgen_fail(char *err, size_t errlen, int status, const char *what);
int certgen_nomem(char *err, size_t errlen);
int certgen_no_password(char *buf, int size, int rwflag, void *arg);
struct certgen *certgen_alloc(void);
EVP_PKEY *certgen_keygen(void);
int certgen_check_window(int64_t nb, int64_t na, char *err, size_t errlen);

/* A leaf as REQ says for KEY (taken over, freed on failure), signed by CA.
 * KEY_IS_PUBLIC: KEY is a public key only (from a certificate request). */
int certgen_leaf(const struct certgen *ca, const struct certgen_req *req, EVP_PKEY *key,
    int key_is_public, struct certgen **out, char *err, size_t errlen);

/* Writes PATH (MODE) atomically with what PEM writes of OBJ; see
 * certgen_write for FLAGS. */
int certgen_write_one(const char *path, mode_t mode, int flags, const void *obj,
    int (*pem)(BIO *, const void *), char *err, size_t errlen);

#endif
