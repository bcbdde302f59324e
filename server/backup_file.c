/* backup_file.c: reading, checking and atomically writing backup files (format: backup_file.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <chubby/chubby.h>

#include "backup_file.h"

/* magic, version, flags, index, created, length, cell_len */
#define BACKUP_FIXED_LEN (8 + 4 + 4 + 8 + 8 + 8 + 2)
/* A body larger than this is not one we wrote: refuse before allocating it. */
#define BACKUP_BODY_MAX ((uint64_t)1 << 36)

static void
put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

void
backup_sha256(const void *p, size_t n, uint8_t out[BACKUP_SHA256_LEN])
{
	unsigned int olen = BACKUP_SHA256_LEN;

	if (EVP_Digest(p, n, out, &olen, EVP_sha256(), NULL) != 1)
		memset(out, 0, BACKUP_SHA256_LEN); /* never matches a real file */
}

/* SHA-256 over the header's bytes before the checksum, then the body. */
static int
backup_checksum(const uint8_t *hdr, size_t hlen, const uint8_t *body, size_t len,
    uint8_t out[BACKUP_SHA256_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int olen = BACKUP_SHA256_LEN;
	int ok;

	if (ctx == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, hdr, hlen) == 1 && EVP_DigestUpdate(ctx, body, len) == 1 &&
	    EVP_DigestFinal_ex(ctx, out, &olen) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The directory holding PATH, so that the rename itself can be synced. */
static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	d = malloc((size_t)(slash - path) + 1);
	if (d != NULL) {
		memcpy(d, path, (size_t)(slash - path));
		d[slash - path] = '\0';
	}
	return d;
}

int
backup_file_write(const char *path, struct backup_info *info, const uint8_t *body, size_t len,
    char *err, size_t errlen)
{
	size_t clen = strlen(info->cell), hlen = BACKUP_FIXED_LEN + clen;
	uint8_t hdr[BACKUP_FIXED_LEN + BACKUP_CELL_MAX + BACKUP_SHA256_LEN];
	char *tmp = NULL, *dir = NULL;
	int fd = -1, dfd, rc = CHUBBY_E_IO;

	if (clen == 0 || clen > BACKUP_CELL_MAX) {
		snprintf(err, errlen, "a backup needs a cell name of 1 to %d bytes", BACKUP_CELL_MAX);
		return CHUBBY_E_INVALID;
	}
	memcpy(hdr, BACKUP_FILE_MAGIC, 8);
	put_be(hdr + 8, BACKUP_FILE_VERSION, 4);
	put_be(hdr + 12, 0, 4);
	put_be(hdr + 16, info->index, 8);
	put_be(hdr + 24, info->created_ms, 8);
	put_be(hdr + 32, len, 8);
	put_be(hdr + 40, clen, 2);
	memcpy(hdr + BACKUP_FIXED_LEN, info->cell, clen);
	if (backup_checksum(hdr, hlen, body, len, info->sha256) != 0) {
		snprintf(err, errlen, "cannot compute the backup's SHA-256");
		return CHUBBY_E_INTERNAL;
	}
	memcpy(hdr + hlen, info->sha256, BACKUP_SHA256_LEN);
	info->length = len;

	/* Write beside the target and rename: a reader never sees half a
	 * backup, and a crash leaves the old file (if any) whole. */
	if ((tmp = malloc(strlen(path) + 32)) == NULL || (dir = dir_of(path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		rc = CHUBBY_E_NOMEM;
		goto out;
	}
	snprintf(tmp, strlen(path) + 32, "%s.tmp-%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, hdr, hlen + BACKUP_SHA256_LEN) != 0 || write_all(fd, body, len) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fsync(fd) != 0) {
		snprintf(err, errlen, "cannot sync %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		snprintf(err, errlen, "cannot close %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	/* The rename is durable once the directory is synced. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (fsync(dfd) != 0 && errno != EINVAL) {
			snprintf(err, errlen, "cannot sync directory %s: %s", dir, strerror(errno));
			close(dfd);
			goto out;
		}
		close(dfd);
	}
	rc = CHUBBY_OK;
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	free(dir);
	return rc;
}

int
backup_file_read(const char *path, struct backup_info *info, uint8_t **body, size_t *len,
    char *err, size_t errlen)
{
	FILE *f;
	uint8_t hdr[BACKUP_FIXED_LEN + BACKUP_CELL_MAX + BACKUP_SHA256_LEN], sum[BACKUP_SHA256_LEN];
	uint8_t *b = NULL;
	uint64_t version, flags, blen;
	size_t clen;
	int rc = CHUBBY_E_CORRUPT, c;

	memset(info, 0, sizeof *info);
	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return CHUBBY_E_IO;
	}
	if (fread(hdr, 1, BACKUP_FIXED_LEN, f) != BACKUP_FIXED_LEN ||
	    memcmp(hdr, BACKUP_FILE_MAGIC, 8) != 0) {
		snprintf(err, errlen, "%s is not a chubby backup (no \"%s\" header)", path,
		    BACKUP_FILE_MAGIC);
		goto out;
	}
	version = get_be(hdr + 8, 4);
	flags = get_be(hdr + 12, 4);
	if (version != BACKUP_FILE_VERSION) {
		snprintf(err, errlen, "%s is a backup in format version %" PRIu64
				      "; this program reads version %d",
		    path, version, BACKUP_FILE_VERSION);
		rc = CHUBBY_E_UNSUPPORTED;
		goto out;
	}
	if (flags != 0) {
		snprintf(err, errlen, "%s: unknown header flags 0x%" PRIx64 " (damaged?)", path, flags);
		goto out;
	}
	info->index = get_be(hdr + 16, 8);
	info->created_ms = get_be(hdr + 24, 8);
	blen = get_be(hdr + 32, 8);
	clen = (size_t)get_be(hdr + 40, 2);
	if (clen == 0 || clen > BACKUP_CELL_MAX || blen > BACKUP_BODY_MAX) {
		snprintf(err, errlen, "%s: the header is damaged (cell name of %zu bytes, body of %"
				      PRIu64 " bytes)", path, clen, blen);
		goto out;
	}
	if (fread(hdr + BACKUP_FIXED_LEN, 1, clen + BACKUP_SHA256_LEN, f) !=
	    clen + BACKUP_SHA256_LEN) {
		snprintf(err, errlen, "%s is truncated (in its header)", path);
		goto out;
	}
	memcpy(info->cell, hdr + BACKUP_FIXED_LEN, clen);
	info->cell[clen] = '\0';
	memcpy(info->sha256, hdr + BACKUP_FIXED_LEN + clen, BACKUP_SHA256_LEN);
	info->length = blen;
	if ((b = malloc(blen > 0 ? (size_t)blen : 1)) == NULL) {
		snprintf(err, errlen, "out of memory reading %s (%" PRIu64 " bytes)", path, blen);
		rc = CHUBBY_E_NOMEM;
		goto out;
	}
	if (fread(b, 1, (size_t)blen, f) != (size_t)blen) {
		snprintf(err, errlen, "%s is truncated: its header says %" PRIu64 " bytes of state",
		    path, blen);
		goto out;
	}
	if ((c = fgetc(f)) != EOF) {
		snprintf(err, errlen, "%s has bytes after the %" PRIu64 " bytes its header announces "
				      "(damaged?)", path, blen);
		goto out;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		rc = CHUBBY_E_IO;
		goto out;
	}
	if (backup_checksum(hdr, BACKUP_FIXED_LEN + clen, b, (size_t)blen, sum) != 0) {
		snprintf(err, errlen, "cannot compute the SHA-256 of %s", path);
		rc = CHUBBY_E_INTERNAL;
		goto out;
	}
	if (CRYPTO_memcmp(sum, info->sha256, BACKUP_SHA256_LEN) != 0) {
		snprintf(err, errlen, "%s is damaged: its SHA-256 checksum does not match its contents",
		    path);
		goto out;
	}
	rc = CHUBBY_OK;
	if (body != NULL) {
		*body = b;
		*len = (size_t)blen;
		b = NULL;
	}
out:
	free(b);
	fclose(f);
	return rc;
}
