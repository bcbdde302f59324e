/*
 * cmd-tree.c: lockctl's commands on a whole subtree: ls -R and rm -r
 * (zkCli's ls -R and deleteall, etcdctl's get/del --prefix).  Chubby has
 * no recursive calls, so both walk the tree with READDIR and one handle per
 * node; a node that goes while they walk is skipped, not an error.
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

/* How often rm -r lists a directory again that someone filled meanwhile. */
#define RM_RETRIES 3

struct tree_ent {
	char *path;
	struct chubby_stat st;
};

struct tree {
	struct tree_ent *v;
	size_t n, cap;
};

static void
tree_free(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].path);
	free(t->v);
	memset(t, 0, sizeof *t);
}

/* Gone since it was listed: skipped. */
static int
gone(int rc)
{
	return rc == CHUBBY_E_NOT_FOUND || rc == CHUBBY_E_BAD_HANDLE;
}

/* The children's names of directory DIR (a status). */
static int
list_dir(struct lockctl *lc, const char *dir, char ***names, size_t *n)
{
	chubby_handle *h;
	int rc;

	*names = NULL;
	*n = 0;
	rc = chubby_handle_open(lc->client, dir, CHUBBY_O_READ, NULL, &h, NULL);
	if (rc != CHUBBY_OK)
		return rc;
	rc = chubby_readdir(h, names, n);
	chubby_handle_close(h);
	return rc;
}

/* Adds every node below DIR to T, depth first in name order.  Prints the
 * error and returns the exit code on a failure that is not a node gone. */
static int
walk(struct lockctl *lc, const char *dir, struct tree *t)
{
	char **names;
	size_t n;
	int rc;

	if ((rc = list_dir(lc, dir, &names, &n)) != CHUBBY_OK)
		return gone(rc) ? 0 : lockctl_api_fail(lc, rc, dir);
	for (size_t i = 0; i < n; i++) {
		struct tree_ent e;
		chubby_handle *h;

		xasprintf(&e.path, "%s/%s", dir, names[i]);
		rc = chubby_handle_open(lc->client, e.path, CHUBBY_O_READ, NULL, &h, NULL);
		if (rc == CHUBBY_OK) {
			rc = chubby_get_stat(h, &e.st);
			chubby_handle_close(h);
		}
		if (rc != CHUBBY_OK) {
			if (gone(rc)) {
				free(e.path);
				continue;
			}
			rc = lockctl_api_fail(lc, rc, e.path);
			free(e.path);
			chubby_free_names(names, n);
			return rc;
		}
		if (t->n == t->cap) {
			t->cap = t->cap ? 2 * t->cap : 64;
			t->v = xrealloc(t->v, t->cap * sizeof *t->v);
		}
		t->v[t->n++] = e;
		if (e.st.is_dir && (rc = walk(lc, e.path, t)) != 0) {
			chubby_free_names(names, n);
			return rc;
		}
	}
	chubby_free_names(names, n);
	return 0;
}

int
lockctl_ls_tree(struct lockctl *lc, const char *arg, int lflag)
{
	struct tree t = {NULL, 0, 0};
	struct reply r;
	char *path;
	int rc;

	if ((rc = lockctl_session(lc)) != 0)
		return rc;
	if ((rc = lockctl_path(lc, arg, &path)) != 0)
		return rc;
	/* The top must be there (and a directory): say so, as ls does. */
	{
		char **names;
		size_t n;
		if ((rc = list_dir(lc, path, &names, &n)) != CHUBBY_OK) {
			rc = lockctl_api_fail(lc, rc, path);
			free(path);
			return rc;
		}
		chubby_free_names(names, n);
	}
	if ((rc = walk(lc, path, &t)) != 0) {
		tree_free(&t);
		free(path);
		return rc;
	}
	reply_begin(lc, &r);
	reply_human(&r, "%s", "");
	json_key(&r.j, "path");
	json_str(&r.j, path);
	json_key(&r.j, "names");
	json_arr_begin(&r.j);
	for (size_t i = 0; i < t.n; i++)
		json_str(&r.j, t.v[i].path);
	json_arr_end(&r.j);
	if (lflag) {
		json_key(&r.j, "entries");
		json_arr_begin(&r.j);
	}
	for (size_t i = 0; i < t.n; i++) {
		const struct chubby_stat *st = &t.v[i].st;
		const char *name = t.v[i].path;

		if (!lflag) {
			reply_word(&r, name, strlen(name));
			reply_human(&r, "%s\n", name);
			continue;
		}
		char iso[48];
		struct lockctl_buf w = {NULL, 0, 0};
		json_obj_begin(&r.j);
		json_kv_str(&r.j, "name", name);
		json_kv_str(&r.j, "type", st->is_dir ? "directory" : "file");
		json_kv_bool(&r.j, "ephemeral", st->ephemeral);
		json_kv_uint(&r.j, "length", st->length);
		json_kv_uint(&r.j, "content_generation", st->content_gen);
		json_kv_str(&r.j, "lock_mode", lockctl_mode_name(st->lock_mode));
		json_kv_uint(&r.j, "lock_holders", st->lock_holders);
		json_kv_uint(&r.j, "modified_ms", st->modified_ms);
		lockctl_iso8601(st->modified_ms, iso, sizeof iso);
		json_kv_str(&r.j, "modified", iso);
		json_obj_end(&r.j);
		/* As ls -l's scripted words, with the full name last. */
		lockctl_buf_printf(&w, "%s:%llu:%llu:%s:%s", st->is_dir ? "d" : "f",
		    (unsigned long long)st->length, (unsigned long long)st->content_gen,
		    lockctl_mode_name(st->lock_mode), name);
		reply_word(&r, w.p, w.len);
		lockctl_buf_free(&w);
		reply_human(&r, "%c%c %8llu %6llu %-9s %s%s\n", st->is_dir ? 'd' : '-',
		    st->ephemeral ? 'e' : '-', (unsigned long long)st->length,
		    (unsigned long long)st->content_gen, lockctl_mode_name(st->lock_mode), name,
		    st->is_dir ? "/" : "");
	}
	if (lflag)
		json_arr_end(&r.j);
	tree_free(&t);
	free(path);
	return reply_end(&r);
}

/* Deletes PATH and everything below it, children first; *N counts the
 * nodes deleted.  TOP: PATH missing is an error (below, it went). */
static int
rm_rec(struct lockctl *lc, const char *path, int top, uint64_t *n)
{
	struct chubby_stat st;
	chubby_handle *h = NULL;
	int rc;

	rc = chubby_handle_open(lc->client, path, CHUBBY_O_READ | CHUBBY_O_WRITE, NULL, &h, NULL);
	if (rc == CHUBBY_OK)
		rc = chubby_get_stat(h, &st);
	if (rc != CHUBBY_OK) {
		if (!top && gone(rc)) {
			chubby_handle_close(h);
			return 0;
		}
		rc = lockctl_api_fail(lc, rc, path);
		chubby_handle_close(h);
		return rc;
	}
	for (int tries = 0;; tries++) {
		if (st.is_dir) {
			char **names;
			size_t k;

			if ((rc = chubby_readdir(h, &names, &k)) != CHUBBY_OK) {
				if (!top && gone(rc))
					break;
				rc = lockctl_api_fail(lc, rc, path);
				chubby_handle_close(h);
				return rc;
			}
			for (size_t i = 0; i < k; i++) {
				char *child;
				xasprintf(&child, "%s/%s", path, names[i]);
				rc = rm_rec(lc, child, 0, n);
				lockctl_kept_forget(lc, child);
				free(child);
				if (rc != 0) {
					chubby_free_names(names, k);
					chubby_handle_close(h);
					return rc;
				}
			}
			chubby_free_names(names, k);
		}
		rc = chubby_delete(h);
		if (rc == CHUBBY_OK) {
			(*n)++;
			break;
		}
		/* Filled again while we emptied it: once more, a few times. */
		if (rc == CHUBBY_E_NOT_EMPTY && tries + 1 < RM_RETRIES)
			continue;
		if (!top && gone(rc))
			break;
		rc = lockctl_api_fail(lc, rc, path);
		chubby_handle_close(h);
		return rc;
	}
	chubby_handle_close(h);
	return 0;
}

/* Asks at the terminal; 1 for yes. */
static int
confirm(const char *path, size_t below)
{
	char line[64];
	size_t n = 0;
	char c;

	fprintf(stderr, "lockctl: remove %s and the %zu node%s below it? [y/N] ", path, below,
	    below == 1 ? "" : "s");
	fflush(stderr);
	/* read(2), not stdio: the shell's line editor shares standard input. */
	while (read(STDIN_FILENO, &c, 1) == 1 && c != '\n')
		if (n + 1 < sizeof line)
			line[n++] = c;
	line[n] = '\0';
	return strcmp(line, "y") == 0 || strcmp(line, "yes") == 0 || strcmp(line, "Y") == 0;
}

int
lockctl_rm_tree(struct lockctl *lc, const char *arg, int force)
{
	struct reply r;
	uint64_t n = 0;
	char *path, root[300];
	int rc;

	if (!force && (lc->script && !lc->shell))
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "rm -r in a script needs -f (nobody is there to confirm)");
	if (!force && !isatty(STDIN_FILENO))
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "rm -r: standard input is not a terminal to confirm at: give -f");
	if ((rc = lockctl_session(lc)) != 0)
		return rc;
	if ((rc = lockctl_path(lc, arg, &path)) != 0)
		return rc;
	/* The root holds the cell's ACL files: never emptied in one go. */
	if (lc->cellname[0] != '\0')
		snprintf(root, sizeof root, "/ls/%s", lc->cellname);
	else
		root[0] = '\0';
	if (strcmp(path, root) == 0 || (strncmp(path, "/ls/", 4) == 0 && strchr(path + 4, '/') == NULL)) {
		rc = lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "%s is the cell's root: rm -r removes a subtree below it", path);
		free(path);
		return rc;
	}
	if (!force) {
		struct tree t = {NULL, 0, 0};
		if ((rc = walk(lc, path, &t)) != 0) {
			free(path);
			return rc;
		}
		size_t below = t.n;
		tree_free(&t);
		if (!confirm(path, below)) {
			rc = lockctl_fail(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_CANCELLED,
			    "%s: not removed", path);
			free(path);
			return rc;
		}
	}
	rc = rm_rec(lc, path, 1, &n);
	lockctl_kept_forget(lc, path);
	if (rc != 0) {
		free(path);
		return rc;
	}
	reply_begin(lc, &r);
	reply_str(&r, "path", path);
	reply_uint(&r, "deleted", n);
	reply_human(&r, "%s", ""); /* quiet, as rm(1) */
	free(path);
	return reply_end(&r);
}
