/*
 * nsutil.c: namespace steps several lockctl commands share: making the
 * directories above a name (mkdir -p, and lock, which creates what it
 * needs as etcdctl lock and consul lock do) and opening a lock file.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "lockctl.h"

int
lockctl_mkdirs(struct lockctl *lc, char *path, size_t upto, bool *any)
{
	struct chubby_stat st;
	chubby_handle *h;
	bool created;
	size_t start, end = upto;
	char *p;
	int rc;

	*any = false;
	/* Each name below the cell's root, parents first: /ls/CELL/a,
	 * /ls/CELL/a/b, ...  (A name not under /ls/CELL is tried whole, for
	 * the cell to refuse.) */
	start = end;
	if (strncmp(path, "/ls/", 4) == 0 && (p = strchr(path + 4, '/')) != NULL &&
	    (size_t)(p - path) < end)
		start = (size_t)(p - path) + 1;
	for (size_t i = start; i <= end; i++) {
		if (i < end && path[i] != '/')
			continue;
		char save = path[i];
		path[i] = '\0';
		rc = chubby_handle_open(lc->client, path, CHUBBY_O_READ | CHUBBY_O_CREATE | CHUBBY_O_DIR,
		    &(struct chubby_open_args){0}, &h, &created);
		if (rc == CHUBBY_OK && !created) {
			rc = chubby_get_stat(h, &st);
			if (rc == CHUBBY_OK && !st.is_dir) {
				chubby_handle_close(h);
				rc = lockctl_fail(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_NOT_DIR, "%s: %s",
				    path, chubby_strerror(CHUBBY_E_NOT_DIR));
				path[i] = save;
				return rc;
			}
		}
		if (rc != CHUBBY_OK) {
			rc = lockctl_api_fail(lc, rc, path);
			path[i] = save;
			return rc;
		}
		chubby_handle_close(h);
		*any = *any || created;
		path[i] = save;
	}
	return 0;
}

int
lockctl_open_lockfile(struct lockctl *lc, const char *path, int create, uint32_t event_mask,
    chubby_handle **h)
{
	struct chubby_open_args oa;
	unsigned flags = CHUBBY_O_READ | CHUBBY_O_WRITE; /* ACQUIRE needs write (Chubby §2.4) */
	const char *slash;
	char *copy;
	bool any;
	int rc;

	memset(&oa, 0, sizeof oa);
	oa.event_mask = event_mask;
	*h = NULL;
	if (create)
		flags |= CHUBBY_O_CREATE;
	/* The common case, the file is there (or only it is missing): one
	 * OPEN.  Only when its directory is missing too are parents made. */
	rc = chubby_handle_open(lc->client, path, flags, &oa, h, &(bool){false});
	if (rc == CHUBBY_E_NOT_FOUND && create && (slash = strrchr(path, '/')) != NULL &&
	    slash > path) {
		copy = strdup(path);
		if (copy == NULL)
			return lockctl_fail(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_NOMEM, "out of memory");
		rc = lockctl_mkdirs(lc, copy, (size_t)(slash - path), &any);
		free(copy);
		if (rc != 0)
			return rc;
		rc = chubby_handle_open(lc->client, path, flags, &oa, h, &(bool){false});
	}
	if (rc == CHUBBY_E_NOT_FOUND && !create)
		return lockctl_fail(lc, LOCKCTL_EXIT_FAIL, rc,
		    "%s: no such node (--no-create: lock does not create it)", path);
	if (rc != CHUBBY_OK)
		return lockctl_api_fail(lc, rc, path);
	return 0;
}
