/*
 * cmd-ns.c: lockctl's namespace commands on a libchubby session: ls, cat,
 * stat, put, mkdir, rm and acl (Chubby §2.3; watches are in cmd-watch.c).
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <chubby/chubby.h>

#include "lockctl.h"
#include "xmalloc.h"

/* Largest input `put` reads from stdin; the cell refuses more than its
 * max_contents (256 KiB by default) with E_TOO_LARGE anyway. */
#define PUT_STDIN_MAX (16u << 20)

/* Most handles a scripted session keeps for reuse (the oldest is closed
 * past it): a script that walks a large tree must not pile up handles at
 * the master without bound. */
#define NS_KEPT_MAX 1024

/*
 * Opens the session and PATH's handle; prints the error and returns the
 * exit code on failure.  *FULL is the full name (free it).
 *
 * A scripted or shell session keeps the plain handles it opened (read, or
 * read-write; not those with events, ephemeral, exclusive or directory
 * creation) per path, until the path is deleted or the session ends, as
 * Chubby's clients kept theirs: a repeated command then costs its one call
 * (a cached read none), not an OPEN and a CLOSE around it.  *KEPT says the
 * handle is such a one: give it back with ns_close(), and if a call on it
 * fails with E_BAD_HANDLE (its node was deleted, or made again, meanwhile)
 * drop it with ns_stale() and open again.
 */
static int
ns_open(struct lockctl *lc, const char *arg, unsigned flags, const struct chubby_open_args *args,
    char **full, chubby_handle **h, bool *created, int *kept)
{
	struct chubby_open_args none;
	struct lockctl_kept *k;
	unsigned key = flags & (CHUBBY_O_READ | CHUBBY_O_WRITE);
	bool dummy;
	int rc, keep;

	*full = NULL;
	*kept = 0;
	if (created == NULL)
		created = &dummy;
	*created = false;
	if ((rc = lockctl_session(lc)) != 0)
		return rc;
	if ((rc = lockctl_path(lc, arg, full)) != 0)
		return rc;
	if (args == NULL) {
		memset(&none, 0, sizeof none);
		args = &none;
	}
	keep = lc->script && !(flags & (CHUBBY_O_EXCL | CHUBBY_O_EPHEMERAL | CHUBBY_O_DIR)) &&
	       args->event_mask == 0 && !args->have_lock_delay && args->acl[0] == NULL &&
	       args->acl[1] == NULL && args->acl[2] == NULL;
	if (keep) {
		for (k = lc->kept; k != NULL; k = k->next) {
			if (k->kind == LOCKCTL_KEPT_HANDLE && (unsigned)k->mode == key &&
			    strcmp(k->path, *full) == 0) {
				*h = k->h;
				*kept = 1;
				return 0;
			}
		}
	}
	rc = chubby_handle_open(lc->client, *full, flags, args, h, created);
	if (rc != CHUBBY_OK)
		return lockctl_api_fail(lc, rc, *full);
	if (keep) {
		struct lockctl_kept *oldest = NULL;
		size_t n = 0;

		for (k = lc->kept; k != NULL; k = k->next) {
			if (k->kind == LOCKCTL_KEPT_HANDLE) {
				n++;
				oldest = k; /* the list is newest first */
			}
		}
		if (n >= NS_KEPT_MAX && oldest != NULL) {
			chubby_handle_close(oldest->h);
			lockctl_kept_remove(lc, oldest);
		}
		lockctl_kept_add(lc, LOCKCTL_KEPT_HANDLE, (int)key, *h, *full);
		*kept = 1;
	}
	return 0;
}

/* Done with a handle from ns_open(): a kept one stays open. */
static void
ns_close(chubby_handle *h, int kept)
{
	if (!kept)
		chubby_handle_close(h);
}

/* RC came from a call on H: if H is a kept handle that went stale (its node
 * deleted since), closes and forgets it and returns 1: open again. */
static int
ns_stale(struct lockctl *lc, chubby_handle *h, int kept, int rc)
{
	if (!kept || rc != CHUBBY_E_BAD_HANDLE)
		return 0;
	for (struct lockctl_kept *k = lc->kept; k != NULL; k = k->next) {
		if (k->kind == LOCKCTL_KEPT_HANDLE && k->h == h) {
			chubby_handle_close(h);
			lockctl_kept_remove(lc, k);
			return 1;
		}
	}
	return 0;
}

/* ls [-l] [-R] [PATH] */
int
cmd_ls(struct lockctl *lc, int argc, char **argv)
{
	struct lockctl_opts o;
	struct reply r;
	chubby_handle *h;
	char **names = NULL, *path;
	size_t n = 0;
	int ch, rc, lflag = 0, rflag = 0, kept;

	lockctl_opts_init(&o, argc, argv);
	while ((ch = lockctl_opts_next(&o, "lR", NULL, NULL)) != 0) {
		if (ch == 'l')
			lflag = 1;
		else if (ch == 'R')
			rflag = 1;
		else
			return lockctl_usage(lc, o.bad);
	}
	if (o.npos > 1 || o.toomany)
		return lockctl_usage(lc, NULL);
	if (rflag)
		return lockctl_ls_tree(lc, o.npos ? o.pos[0] : "", lflag);
	for (;;) {
		if ((rc = ns_open(lc, o.npos ? o.pos[0] : "", CHUBBY_O_READ, NULL, &path, &h, NULL,
			 &kept)) != 0) {
			free(path);
			return rc;
		}
		if ((rc = chubby_readdir(h, &names, &n)) == CHUBBY_OK)
			break;
		if (ns_stale(lc, h, kept, rc)) {
			free(path);
			continue;
		}
		rc = lockctl_api_fail(lc, rc, path);
		ns_close(h, kept);
		free(path);
		return rc;
	}
	ns_close(h, kept);
	reply_begin(lc, &r);
	json_key(&r.j, "path");
	json_str(&r.j, path);
	json_key(&r.j, "names");
	json_arr_begin(&r.j);
	for (size_t i = 0; i < n; i++)
		json_str(&r.j, names[i]);
	json_arr_end(&r.j);
	if (!lflag) {
		for (size_t i = 0; i < n; i++) {
			reply_word(&r, names[i], strlen(names[i]));
			reply_human(&r, "%s\n", names[i]);
		}
		if (n == 0)
			reply_human(&r, "%s", "");
	} else {
		json_key(&r.j, "entries");
		json_arr_begin(&r.j);
		reply_human(&r, "%s", "");
		for (size_t i = 0; i < n; i++) {
			struct chubby_stat st;
			struct lockctl_buf w = {NULL, 0, 0};
			chubby_handle *ch2;
			char *child;
			bool created;

			xasprintf(&child, "%s/%s", path, names[i]);
			rc = chubby_handle_open(lc->client, child,
			    CHUBBY_O_READ, &(struct chubby_open_args){0}, &ch2, &created);
			if (rc == CHUBBY_OK) {
				rc = chubby_get_stat(ch2, &st);
				chubby_handle_close(ch2);
			}
			if (rc == CHUBBY_E_NOT_FOUND || rc == CHUBBY_E_BAD_HANDLE) {
				/* Gone since READDIR: list what is there. */
				free(child);
				continue;
			}
			if (rc != CHUBBY_OK) {
				reply_abort(&r);
				rc = lockctl_api_fail(lc, rc, child);
				free(child);
				chubby_free_names(names, n);
				free(path);
				return rc;
			}
			free(child);
			json_obj_begin(&r.j);
			json_kv_str(&r.j, "name", names[i]);
			json_kv_str(&r.j, "type", st.is_dir ? "directory" : "file");
			json_kv_bool(&r.j, "ephemeral", st.ephemeral);
			json_kv_uint(&r.j, "length", st.length);
			json_kv_uint(&r.j, "content_generation", st.content_gen);
			json_kv_str(&r.j, "lock_mode", lockctl_mode_name(st.lock_mode));
			json_kv_uint(&r.j, "lock_holders", st.lock_holders);
			json_kv_uint(&r.j, "modified_ms", st.modified_ms);
			if (st.modified_ms != 0) {
				char iso[48];
				lockctl_iso8601(st.modified_ms, iso, sizeof iso);
				json_kv_str(&r.j, "modified", iso);
			}
			json_obj_end(&r.j);
			/* Scripted text: one word TYPE:LENGTH:GEN:LOCK:NAME per child
			 * (the name last, so it may hold ':'). */
			lockctl_buf_printf(&w, "%s:%llu:%llu:%s:%s", st.is_dir ? "d" : "f",
			    (unsigned long long)st.length, (unsigned long long)st.content_gen,
			    lockctl_mode_name(st.lock_mode), names[i]);
			reply_word(&r, w.p, w.len);
			lockctl_buf_free(&w);
			reply_human(&r, "%c%c %8llu %6llu %-9s %s%s\n", st.is_dir ? 'd' : '-',
			    st.ephemeral ? 'e' : '-', (unsigned long long)st.length,
			    (unsigned long long)st.content_gen, lockctl_mode_name(st.lock_mode),
			    names[i], st.is_dir ? "/" : "");
		}
		json_arr_end(&r.j);
	}
	chubby_free_names(names, n);
	free(path);
	return reply_end(&r);
}

/* cat PATH */
int
cmd_cat(struct lockctl *lc, int argc, char **argv)
{
	struct lockctl_opts o;
	struct chubby_stat st;
	struct reply r;
	chubby_handle *h;
	void *data = NULL;
	size_t len = 0;
	char *path;
	int ch, rc, kept;

	lockctl_opts_init(&o, argc, argv);
	if ((ch = lockctl_opts_next(&o, "", NULL, NULL)) != 0)
		return lockctl_usage(lc, o.bad);
	if (o.npos != 1)
		return lockctl_usage(lc, NULL);
	for (;;) {
		if ((rc = ns_open(lc, o.pos[0], CHUBBY_O_READ, NULL, &path, &h, NULL, &kept)) != 0) {
			free(path);
			return rc;
		}
		if ((rc = chubby_get_contents(h, &data, &len, &st)) == CHUBBY_OK)
			break;
		if (ns_stale(lc, h, kept, rc)) {
			free(path);
			continue;
		}
		rc = lockctl_api_fail(lc, rc, path);
		ns_close(h, kept);
		free(path);
		return rc;
	}
	ns_close(h, kept);
	reply_begin(lc, &r);
	reply_str(&r, "path", path);
	reply_uint(&r, "content_generation", st.content_gen);
	reply_uint(&r, "length", len);
	reply_contents(&r, "contents", data != NULL ? data : "", len);
	/* A person (or a pipe) gets the bytes as they are. */
	reply_human(&r, "%s", "");
	reply_human_bin(&r, data != NULL ? data : "", len);
	chubby_free(data);
	free(path);
	return reply_end(&r);
}

/* stat PATH */
int
cmd_stat(struct lockctl *lc, int argc, char **argv)
{
	struct lockctl_opts o;
	struct chubby_stat st;
	struct reply r;
	chubby_handle *h;
	char *path;
	int ch, rc, kept;

	lockctl_opts_init(&o, argc, argv);
	if ((ch = lockctl_opts_next(&o, "", NULL, NULL)) != 0)
		return lockctl_usage(lc, o.bad);
	if (o.npos != 1)
		return lockctl_usage(lc, NULL);
	for (;;) {
		if ((rc = ns_open(lc, o.pos[0], CHUBBY_O_READ, NULL, &path, &h, NULL, &kept)) != 0) {
			free(path);
			return rc;
		}
		rc = chubby_get_stat(h, &st);
		if (ns_stale(lc, h, kept, rc)) {
			free(path);
			continue;
		}
		ns_close(h, kept);
		break;
	}
	if (rc != CHUBBY_OK) {
		rc = lockctl_api_fail(lc, rc, path);
		free(path);
		return rc;
	}
	reply_begin(lc, &r);
	reply_str(&r, "path", path);
	reply_stat(&r, &st);
	free(path);
	return reply_end(&r);
}

/* Reads all of standard input (put without DATA). */
static int
read_stdin(struct lockctl_buf *b)
{
	char tmp[65536];
	ssize_t n;

	while ((n = read(STDIN_FILENO, tmp, sizeof tmp)) != 0) {
		if (n < 0)
			return -1;
		if (b->len + (size_t)n > PUT_STDIN_MAX)
			return -2;
		lockctl_buf_add(b, tmp, (size_t)n);
	}
	return 0;
}

/* put [-e] [--if-gen N] PATH [--] [DATA]: "--" ends the options, so DATA
 * may start with a dash. */
int
cmd_put(struct lockctl *lc, int argc, char **argv)
{
	static const char *const longs[] = {"if-gen=", "ephemeral", NULL};
	struct lockctl_opts o;
	struct lockctl_buf in = {NULL, 0, 0};
	struct chubby_open_args args;
	struct chubby_stat st;
	struct reply r;
	chubby_handle *h;
	const void *data;
	size_t len;
	uint64_t gen = 0;
	bool created = false;
	unsigned flags;
	int ch, rc, eph = 0, have_gen = 0, kept;
	char *path;

	lockctl_opts_init(&o, argc, argv);
	while ((ch = lockctl_opts_next(&o, "e", longs, "ge")) != 0) {
		switch (ch) {
		case 'e':
			eph = 1;
			break;
		case 'g':
			if (lockctl_parse_u64(o.arg, UINT64_MAX, &gen) != 0)
				return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
				    "--if-gen: \"%s\" is not a generation", o.arg);
			have_gen = 1;
			break;
		default:
			return lockctl_usage(lc, o.bad);
		}
	}
	if (o.npos < 1 || o.npos > 2 || o.toomany)
		return lockctl_usage(lc, NULL);
	if (o.npos == 2) {
		data = o.pos[1];
		len = strlen(o.pos[1]);
	} else if (lc->script) {
		/* Standard input carries the commands. */
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "DATA is required in scripted mode (\"\" for empty contents)");
	} else {
		if ((rc = read_stdin(&in)) != 0) {
			lockctl_buf_free(&in);
			return lockctl_fail(lc, LOCKCTL_EXIT_FAIL,
			    rc == -2 ? CHUBBY_E_TOO_LARGE : CHUBBY_E_IO, "%s",
			    rc == -2 ? "standard input is larger than 16 MiB"
				     : "cannot read standard input");
		}
		data = in.p != NULL ? in.p : "";
		len = in.len;
	}
	memset(&args, 0, sizeof args);
	flags = CHUBBY_O_READ | CHUBBY_O_WRITE;
	if (!have_gen) {
		/* Contents given at creation make the file whole from its first
		 * instant (content generation 0): no empty window to observe. */
		flags |= CHUBBY_O_CREATE | (eph ? CHUBBY_O_EPHEMERAL : 0);
		args.contents = data;
		args.contents_len = len;
	}
	for (;;) {
		if ((rc = ns_open(lc, o.pos[0], flags, &args, &path, &h, &created, &kept)) != 0) {
			lockctl_buf_free(&in);
			free(path);
			return rc;
		}
		if (created)
			rc = chubby_get_stat(h, &st);
		else if (have_gen)
			rc = chubby_set_contents_if(h, data, len, gen, &st);
		else
			rc = chubby_set_contents(h, data, len, &st);
		if (ns_stale(lc, h, kept, rc)) {
			free(path);
			continue;
		}
		break;
	}
	lockctl_buf_free(&in);
	if (rc != CHUBBY_OK) {
		rc = lockctl_api_fail(lc, rc, path);
		ns_close(h, kept);
		free(path);
		return rc;
	}
	/*
	 * An ephemeral file lives while a handle has it open: in scripted mode
	 * the session keeps the handle (until rm or the end of the session);
	 * one-shot, the node goes with our close.
	 */
	if (eph && lc->script && created &&
	    lockctl_kept_find(lc, LOCKCTL_KEPT_FILE, path) == NULL)
		lockctl_kept_add(lc, LOCKCTL_KEPT_FILE, 0, h, path);
	else
		ns_close(h, kept);
	reply_begin(lc, &r);
	reply_str(&r, "path", path);
	reply_bool(&r, "created", created);
	reply_uint(&r, "content_generation", st.content_gen);
	reply_uint(&r, "length", st.length);
	free(path);
	return reply_end(&r);
}

/* mkdir [-p] PATH */
int
cmd_mkdir(struct lockctl *lc, int argc, char **argv)
{
	struct lockctl_opts o;
	struct reply r;
	chubby_handle *h;
	bool created = false, any = false;
	char *path = NULL;
	int ch, rc, pflag = 0, kept;

	lockctl_opts_init(&o, argc, argv);
	while ((ch = lockctl_opts_next(&o, "p", NULL, NULL)) != 0) {
		if (ch != 'p')
			return lockctl_usage(lc, o.bad);
		pflag = 1;
	}
	if (o.npos != 1 || o.toomany)
		return lockctl_usage(lc, NULL);
	if (!pflag) {
		rc = ns_open(lc, o.pos[0], CHUBBY_O_READ | CHUBBY_O_CREATE | CHUBBY_O_DIR |
			CHUBBY_O_EXCL, NULL, &path, &h, &created, &kept);
		if (rc != 0) {
			free(path);
			return rc;
		}
		chubby_handle_close(h);
		any = created;
	} else {
		if ((rc = lockctl_session(lc)) != 0)
			return rc;
		if ((rc = lockctl_path(lc, o.pos[0], &path)) != 0)
			return rc;
		if ((rc = lockctl_mkdirs(lc, path, strlen(path), &any)) != 0) {
			free(path);
			return rc;
		}
	}
	reply_begin(lc, &r);
	reply_str(&r, "path", path);
	reply_bool(&r, "created", any);
	reply_human(&r, "%s", ""); /* quiet, as mkdir(1) */
	free(path);
	return reply_end(&r);
}

/* rm [-r [-f]] PATH */
int
cmd_rm(struct lockctl *lc, int argc, char **argv)
{
	struct lockctl_opts o;
	struct reply r;
	chubby_handle *h;
	char *path;
	int ch, rc, kept, rflag = 0, fflag = 0;

	lockctl_opts_init(&o, argc, argv);
	while ((ch = lockctl_opts_next(&o, "rf", NULL, NULL)) != 0) {
		if (ch == 'r')
			rflag = 1;
		else if (ch == 'f')
			fflag = 1;
		else
			return lockctl_usage(lc, o.bad);
	}
	if (o.npos != 1 || o.toomany)
		return lockctl_usage(lc, NULL);
	if (rflag)
		return lockctl_rm_tree(lc, o.pos[0], fflag);
	for (;;) {
		if ((rc = ns_open(lc, o.pos[0], CHUBBY_O_READ | CHUBBY_O_WRITE, NULL, &path, &h, NULL,
			 &kept)) != 0) {
			free(path);
			return rc;
		}
		rc = chubby_delete(h);
		if (ns_stale(lc, h, kept, rc)) {
			free(path);
			continue;
		}
		break;
	}
	if (rc != CHUBBY_OK) {
		rc = lockctl_api_fail(lc, rc, path);
		ns_close(h, kept);
		free(path);
		return rc;
	}
	/* Close works on a handle whose node is gone (NAMESPACE.md); the
	 * session's other handles on it (a kept ephemeral file's too) are of
	 * no use any more. */
	ns_close(h, kept);
	lockctl_kept_forget(lc, path);
	reply_begin(lc, &r);
	reply_str(&r, "path", path);
	reply_bool(&r, "deleted", 1);
	reply_human(&r, "%s", ""); /* quiet, as rm(1) */
	free(path);
	return reply_end(&r);
}

static void
reply_acl(struct reply *r, const char *path, const struct chubby_stat *st)
{
	reply_str(r, "path", path);
	reply_str(r, "read", st->acl[0]);
	reply_str(r, "write", st->acl[1]);
	reply_str(r, "change", st->acl[2]);
	reply_uint(r, "acl_generation", st->acl_gen);
	reply_human(r, "read   %s\nwrite  %s\nchange %s\n", st->acl[0][0] ? st->acl[0] : "(all)",
	    st->acl[1][0] ? st->acl[1] : "(all)", st->acl[2][0] ? st->acl[2] : "(all)");
}

/* acl get PATH | acl set [--allow-open-change] PATH READ WRITE CHANGE ("-"
 * keeps one, "" opens to all) */
int
cmd_acl(struct lockctl *lc, int argc, char **argv)
{
	static const char *const longs[] = {"allow-open-change", NULL};
	struct lockctl_opts o;
	unsigned flags = 0;
	struct chubby_stat st;
	struct reply r;
	chubby_handle *h;
	const char *acl[3];
	char *path;
	int ch, rc, set, kept;

	lockctl_opts_init(&o, argc, argv);
	while ((ch = lockctl_opts_next(&o, "", longs, "o")) != 0) {
		if (ch != 'o')
			return lockctl_usage(lc, o.bad);
		flags |= CHUBBY_ACL_ALLOW_OPEN_CHANGE;
	}
	if (o.npos >= 2 && strcmp(o.pos[0], "get") == 0 && o.npos == 2 && flags == 0)
		set = 0;
	else if (o.npos == 5 && strcmp(o.pos[0], "set") == 0)
		set = 1;
	else
		return lockctl_usage(lc, NULL);
	for (int i = 0; i < 3 && set; i++)
		acl[i] = strcmp(o.pos[2 + i], "-") == 0 ? NULL : o.pos[2 + i];
	for (;;) {
		if ((rc = ns_open(lc, o.pos[1], CHUBBY_O_READ, NULL, &path, &h, NULL, &kept)) != 0) {
			free(path);
			return rc;
		}
		rc = set ? chubby_set_acl_flags(h, acl, flags) : CHUBBY_OK;
		if (rc == CHUBBY_OK)
			rc = chubby_get_stat(h, &st);
		if (ns_stale(lc, h, kept, rc)) {
			free(path);
			continue;
		}
		break;
	}
	if (rc != CHUBBY_OK) {
		/* Reported before the close, which clears chubby_last_error():
		 * the cell's reason (which ACL file is missing) is the point. */
		rc = lockctl_api_fail(lc, rc, path);
		ns_close(h, kept);
		free(path);
		return rc;
	}
	ns_close(h, kept);
	reply_begin(lc, &r);
	reply_acl(&r, path, &st);
	free(path);
	return reply_end(&r);
}
