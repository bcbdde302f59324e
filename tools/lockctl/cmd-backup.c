/* cmd-backup.c: lockctl backup: fetch a consistent snapshot from the master into a file, or check a file. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <chubby/chubby.h>

#include "aclient.h"
#include "frame.h"
#include "json.h"
#include "lockctl.h"
#include "mp.h"
#include "protocol.h"
#include "server/backup_file.h"

int cmd_backup(struct lockctl *lc, int argc, char **argv);

/* Times the fetch starts over: the master changed, or dropped the copy. */
#define BACKUP_ATTEMPTS 5
/* The biggest chunk we ask for: our connection takes frames of twice
 * FRAME_MAX_DEFAULT, so a chunk this size always fits with its envelope. */
#define BACKUP_CHUNK_MAX FRAME_MAX_DEFAULT

static int
backup_exit(int rc)
{
	return lockctl_reach_exit(rc);
}

/* A local file lockctl cannot read or write is the user's to fix, as a bad
 * command line is (lockctl(1) "EXIT STATUS"): exit 2; a file that is read
 * but is no good backup is the answer to the question, exit 1. */
static int
backup_file_exit(int rc)
{
	return rc == CHUBBY_E_IO ? LOCKCTL_EXIT_USAGE : LOCKCTL_EXIT_FAIL;
}

/* Fails before the master is asked for anything when FILE's directory
 * cannot take the new file: fetching a whole state to throw it away helps
 * no one. */
static int
backup_dest_check(const char *file, char *err, size_t errlen)
{
	char dir[4096];
	const char *slash = strrchr(file, '/');

	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else if (slash == file)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - file), file);
	if (access(dir, W_OK | X_OK) != 0) {
		/* The directory's errno, said of the file the user named. */
		snprintf(err, errlen, "cannot write %s: %s", file, strerror(errno));
		return CHUBBY_E_IO;
	}
	return CHUBBY_OK;
}

static void
backup_print(struct lockctl *lc, const char *verb, const char *file,
    const struct backup_info *info)
{
	char *hex = lockctl_hex(info->sha256, sizeof info->sha256);
	char when[64] = "?";
	time_t t = (time_t)(info->created_ms / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) != NULL)
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (lc->json) {
		struct json j;
		json_init(&j);
		json_obj_begin(&j);
		json_kv_bool(&j, "ok", 1);
		json_kv_str(&j, "file", file);
		json_kv_str(&j, "cell", info->cell);
		json_kv_uint(&j, "index", info->index);
		json_kv_uint(&j, "bytes", info->length);
		json_kv_uint(&j, "created_ms", info->created_ms);
		json_kv_str(&j, "sha256", hex);
		json_obj_end(&j);
		printf("%s\n", json_text(&j));
		json_free(&j);
	} else {
		printf("%s: %s backup of cell \"%s\" at slot %" PRIu64 ", %" PRIu64
		       " bytes of state, taken %s, sha256 %s\n",
		    file, verb, info->cell, info->index, info->length, when, hex);
	}
	fflush(stdout);
	free(hex);
}

static int
backup_verify(struct lockctl *lc, const char *file)
{
	struct backup_info info;
	char err[600];
	int rc;

	if ((rc = backup_file_read(file, &info, NULL, NULL, err, sizeof err)) != CHUBBY_OK)
		return lockctl_error(lc, backup_file_exit(rc), rc, "%s", err);
	backup_print(lc, "a valid", file, &info);
	return LOCKCTL_EXIT_OK;
}

/* Packs the SNAPSHOT args {index, offset, max}. */
static void
backup_args(msgpack_sbuffer *sb, uint64_t index, uint64_t offset)
{
	msgpack_packer pk;

	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, index != 0 ? 3 : 2);
	if (index != 0)
		mp_pack_kv_uint(&pk, "index", index);
	mp_pack_kv_uint(&pk, "offset", offset);
	mp_pack_kv_uint(&pk, "max", BACKUP_CHUNK_MAX);
}

/*
 * One attempt: every chunk of one copy from the master AC is connected to.
 * CHUBBY_OK with *BODY (malloc'd) and INFO filled; RETRY set when starting
 * over may help (the master changed or let the copy go).
 */
static int
backup_fetch(struct aclient *ac, struct backup_info *info, uint8_t **body, int *retry, char *err,
    size_t errlen)
{
	msgpack_sbuffer sb;
	struct wire_msg m;
	uint8_t *buf = NULL, sum[BACKUP_SHA256_LEN], want[BACKUP_SHA256_LEN];
	uint64_t index = 0, offset = 0, total = 0, got_index, got_total, got_offset, created = 0;
	struct mp_str data, cell, digest;
	int rc = CHUBBY_OK;

	*retry = 0;
	msgpack_sbuffer_init(&sb);
	for (;;) {
		backup_args(&sb, index, offset);
		if ((rc = aclient_call(ac, PROTO_OP_SNAPSHOT, sb.data, sb.size, &m, err, errlen)) !=
		    CHUBBY_OK) {
			*retry = 1;
			goto out;
		}
		if (m.res.status != CHUBBY_OK) {
			rc = m.res.status;
			snprintf(err, errlen, "%.*s", (int)m.res.message.len,
			    m.res.message.ptr != NULL ? m.res.message.ptr : chubby_strerror(rc));
			*retry = rc == CHUBBY_E_NOT_MASTER || rc == CHUBBY_E_NOT_FOUND ||
			    rc == CHUBBY_E_UNAVAILABLE;
			wire_msg_free(&m);
			goto out;
		}
		got_index = got_total = got_offset = 0;
		data.ptr = cell.ptr = digest.ptr = NULL;
		data.len = cell.len = digest.len = 0;
		if ((rc = mp_get_uint(m.res.result, "index", MP_REQUIRED, &got_index, err, errlen)) !=
			CHUBBY_OK ||
		    (rc = mp_get_uint(m.res.result, "total", MP_REQUIRED, &got_total, err, errlen)) !=
			CHUBBY_OK ||
		    (rc = mp_get_uint(m.res.result, "offset", MP_REQUIRED, &got_offset, err,
			 errlen)) != CHUBBY_OK ||
		    (rc = mp_get_bin(m.res.result, "data", MP_REQUIRED, &data, err, errlen)) !=
			CHUBBY_OK ||
		    (rc = mp_get_str(m.res.result, "cell", MP_REQUIRED, &cell, err, errlen)) !=
			CHUBBY_OK ||
		    (rc = mp_get_bin(m.res.result, "digest", MP_REQUIRED, &digest, err, errlen)) !=
			CHUBBY_OK ||
		    (rc = mp_get_uint(m.res.result, "created_ms", MP_OPTIONAL, &created, err,
			 errlen)) != CHUBBY_OK) {
			wire_msg_free(&m);
			goto out;
		}
		if (offset == 0) {
			/* The first chunk names the copy; every later one must be of it. */
			if (cell.len == 0 || cell.len > BACKUP_CELL_MAX ||
			    digest.len != BACKUP_SHA256_LEN || got_index == 0 ||
			    got_total > ((uint64_t)1 << 36)) {
				snprintf(err, errlen, "the master's answer does not describe a backup");
				rc = CHUBBY_E_MALFORMED;
				wire_msg_free(&m);
				goto out;
			}
			index = got_index;
			total = got_total;
			memcpy(info->cell, cell.ptr, cell.len);
			info->cell[cell.len] = '\0';
			info->index = index;
			info->created_ms = created;
			memcpy(want, digest.ptr, BACKUP_SHA256_LEN);
			if ((buf = malloc(total > 0 ? (size_t)total : 1)) == NULL) {
				snprintf(err, errlen, "out of memory for %" PRIu64 " bytes", total);
				rc = CHUBBY_E_NOMEM;
				wire_msg_free(&m);
				goto out;
			}
		}
		if (got_index != index || got_total != total || got_offset != offset ||
		    data.len > total - offset || (data.len == 0 && offset < total)) {
			snprintf(err, errlen, "the master sent a chunk that does not fit (slot %" PRIu64
					      ", offset %" PRIu64 ", %zu bytes)",
			    got_index, got_offset, data.len);
			rc = CHUBBY_E_MALFORMED;
			wire_msg_free(&m);
			goto out;
		}
		memcpy(buf + offset, data.ptr, data.len);
		offset += data.len;
		wire_msg_free(&m);
		if (offset == total)
			break;
	}
	backup_sha256(buf, (size_t)total, sum);
	if (CRYPTO_memcmp(sum, want, BACKUP_SHA256_LEN) != 0) {
		snprintf(err, errlen, "the state received does not match the master's SHA-256");
		rc = CHUBBY_E_CORRUPT;
		*retry = 1;
		goto out;
	}
	info->length = total;
	*body = buf;
	buf = NULL;
out:
	free(buf);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* backup [--verify] FILE */
int
cmd_backup(struct lockctl *lc, int argc, char **argv)
{
	struct backup_info info;
	struct aclient *ac = NULL;
	const char *file = NULL;
	uint8_t *body = NULL;
	char err[600] = "";
	int verify = 0, npos = 0, rc = CHUBBY_E_UNAVAILABLE, retry = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--verify") == 0 || strcmp(argv[i], "-v") == 0) {
			verify = 1;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return lockctl_error(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
			    "backup: unknown option %s; usage: lockctl backup [--verify] FILE",
			    argv[i]);
		} else {
			file = argv[i];
			npos++;
		}
	}
	if (npos != 1)
		return lockctl_error(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "usage: lockctl backup [--verify] FILE");
	if (verify)
		return backup_verify(lc, file);
	if (lockctl_need_cell(lc) != 0)
		return LOCKCTL_EXIT_USAGE;
	if ((rc = backup_dest_check(file, err, sizeof err)) != CHUBBY_OK)
		return lockctl_error(lc, backup_file_exit(rc), rc, "backup: %s", err);
	rc = CHUBBY_E_UNAVAILABLE;
	for (int attempt = 0; attempt < BACKUP_ATTEMPTS; attempt++) {
		if (attempt > 0) {
			struct timespec ts = {0, 200 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		if ((rc = aclient_open_master(&lc->spec, lc->timeout_ms, &ac, err, sizeof err)) !=
		    CHUBBY_OK) {
			retry = rc == CHUBBY_E_UNAVAILABLE;
			if (!retry)
				break;
			continue;
		}
		memset(&info, 0, sizeof info);
		rc = backup_fetch(ac, &info, &body, &retry, err, sizeof err);
		aclient_close(ac);
		if (rc == CHUBBY_OK || !retry)
			break;
	}
	if (rc != CHUBBY_OK)
		return lockctl_error(lc, backup_exit(rc), rc, "backup: %s", err);
	rc = backup_file_write(file, &info, body, (size_t)info.length, err, sizeof err);
	free(body);
	if (rc != CHUBBY_OK)
		return lockctl_error(lc, backup_file_exit(rc), rc, "backup: %s", err);
	backup_print(lc, "wrote a", file, &info);
	return LOCKCTL_EXIT_OK;
}
