/*
 * cmd-leader.c: who leads an election that `lock --elect` runs, and the
 * record the leader writes into the lock file.
 *
 * The file's contents alone cannot say who leads: a leader that crashed
 * leaves its name behind, and a new holder takes the lock before it can
 * write its own.  So the record carries the lock generation its writer
 * held (the generation of its sequencer), and `leader` names someone only
 * while the lock is held exclusively at that very generation (etcd's
 * election keys its leader value by the lease holding it for the same
 * reason).  A leader that steps down clears the record as well.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "lockctl.h"
#include "xmalloc.h"

#define GEN_PREFIX "lock_generation "

void
lockctl_leader_record(const char *identity, uint64_t gen, struct lockctl_buf *out)
{
	/* The identity first, alone on its line: `cat | head -n 1` reads it. */
	lockctl_buf_printf(out, "%s\n" GEN_PREFIX "%llu\n", identity, (unsigned long long)gen);
}

int
lockctl_leader_parse(const void *p, size_t n, char **identity, uint64_t *gen)
{
	const char *s = p, *nl, *last;
	char num[24];
	size_t pl = strlen(GEN_PREFIX), nd;

	/* IDENTITY "\n" "lock_generation " DIGITS "\n", IDENTITY without "\n". */
	if (n < pl + 3 || s[n - 1] != '\n')
		return 0;
	nl = memchr(s, '\n', n);
	if (nl == NULL || nl == s)
		return 0;
	last = nl + 1;
	if ((size_t)(s + n - last) < pl + 2 || memcmp(last, GEN_PREFIX, pl) != 0)
		return 0;
	nd = (size_t)(s + n - 1 - (last + pl));
	if (nd == 0 || nd >= sizeof num)
		return 0;
	memcpy(num, last + pl, nd);
	num[nd] = '\0';
	if (lockctl_parse_u64(num, UINT64_MAX, gen) != 0)
		return 0;
	*identity = xmemdup(s, (size_t)(nl - s) + 1);
	(*identity)[nl - s] = '\0';
	return 1;
}

/* Who leads, as seen now. */
struct leader_view {
	int leads;
	int verified;   /* named by a record of the current generation */
	char *identity; /* when it leads */
	uint64_t gen;
};

static void
view_free(struct leader_view *v)
{
	free(v->identity);
	memset(v, 0, sizeof *v);
}

static int
view_same(const struct leader_view *a, const struct leader_view *b)
{
	if (a->leads != b->leads)
		return 0;
	if (!a->leads)
		return 1;
	return a->gen == b->gen && a->verified == b->verified && strcmp(a->identity, b->identity) == 0;
}

/* Looks at H's file: the contents first, then the lock state from the
 * master (never cached).  A record of generation G read first, and then the
 * lock held at G, means that G's holder wrote it and holds the lock now. */
static int
leader_look(struct lockctl *lc, chubby_handle *h, const char *path, struct leader_view *v)
{
	struct chubby_stat st;
	void *data = NULL;
	size_t len = 0;
	char *id = NULL;
	uint64_t gen = 0;
	int rc;

	memset(v, 0, sizeof *v);
	if ((rc = chubby_get_contents(h, &data, &len, NULL)) != CHUBBY_OK ||
	    (rc = chubby_get_stat(h, &st)) != CHUBBY_OK) {
		chubby_free(data);
		return lockctl_api_fail(lc, rc, path);
	}
	if (st.lock_mode == CHUBBY_LOCK_EXCLUSIVE) {
		if (lockctl_leader_parse(data, len, &id, &gen)) {
			/* Another generation's record: its writer is gone. */
			if (gen == st.lock_gen) {
				v->leads = v->verified = 1;
				v->identity = id;
				v->gen = gen;
				id = NULL;
			}
		} else if (len > 0 && memchr(data, '\0', len) == NULL) {
			/* Not our record (chubby_elect(3) writes the bare
			 * identity): reported while the lock is held, as
			 * chubby_leader(3) does, marked unverified. */
			v->leads = 1;
			v->identity = xmemdup(data, len + 1);
			v->identity[len] = '\0';
			v->gen = st.lock_gen;
		}
	}
	free(id);
	chubby_free(data);
	return 0;
}

static void
leader_reply(struct lockctl *lc, const char *path, const struct leader_view *v, int event)
{
	struct reply r;

	reply_begin(lc, &r);
	if (event && lc->json) {
		/* Changes under --watch are lines of their own, like events. */
		json_free(&r.j);
		json_init(&r.j);
		json_obj_begin(&r.j);
		json_kv_str(&r.j, "event", "LEADER");
	}
	reply_str(&r, "path", path);
	reply_bool(&r, "leader", v->leads);
	if (v->leads) {
		reply_str(&r, "identity", v->identity);
		reply_uint(&r, "lock_generation", v->gen);
		reply_bool(&r, "verified", v->verified);
		reply_human(&r, "%s\n", v->identity);
	} else {
		reply_human(&r, "no leader\n");
	}
	reply_end(&r);
}

/* leader [--watch] PATH */
int
cmd_leader(struct lockctl *lc, int argc, char **argv)
{
	static const char *const longs[] = {"watch", NULL};
	struct chubby_open_args oa;
	struct lockctl_opts o;
	struct leader_view cur, next;
	chubby_handle *h;
	char *path = NULL;
	int ch, rc, watch = 0, lost = 0;

	lockctl_opts_init(&o, argc, argv);
	while ((ch = lockctl_opts_next(&o, "w", longs, "w")) != 0) {
		if (ch != 'w')
			return lockctl_usage(lc, o.bad);
		watch = 1;
	}
	if (o.npos != 1 || o.toomany)
		return lockctl_usage(lc, NULL);
	if (watch && lc->script)
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_UNSUPPORTED,
		    "leader --watch runs from the command line only (scripted: watch PATH)");
	if ((rc = lockctl_session(lc)) != 0)
		return rc;
	if ((rc = lockctl_path(lc, o.pos[0], &path)) != 0)
		return rc;
	memset(&oa, 0, sizeof oa);
	/* A new holder (LOCK_ACQUIRED), its record or a step-down's clearing
	 * (CONTENTS_MODIFIED), the file deleted (HANDLE_INVALID). */
	if (watch)
		oa.event_mask = CHUBBY_EVMASK(CHUBBY_EV_CONTENTS_MODIFIED) |
				CHUBBY_EVMASK(CHUBBY_EV_LOCK_ACQUIRED) |
				CHUBBY_EVMASK(CHUBBY_EV_HANDLE_INVALID);
	if ((rc = chubby_handle_open(lc->client, path, CHUBBY_O_READ, &oa, &h, NULL)) !=
	    CHUBBY_OK) {
		rc = lockctl_api_fail(lc, rc, path);
		free(path);
		return rc;
	}
	if ((rc = leader_look(lc, h, path, &cur)) != 0)
		goto out;
	leader_reply(lc, path, &cur, 0);
	if (!watch) {
		rc = cur.leads ? LOCKCTL_EXIT_OK : LOCKCTL_EXIT_NONE;
		goto out;
	}
	lockctl_signals();
	while (!lockctl_signalled()) {
		struct lockctl_event ev;
		int again = 0, w;

		while (lockctl_event_pop(&ev)) {
			if (ev.type == CHUBBY_EV_EXPIRED)
				lost = 1;
			else if (ev.type == CHUBBY_EV_HANDLE_INVALID && ev.handle == h) {
				free(ev.path);
				rc = lockctl_fail(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_NOT_FOUND,
				    "%s was deleted", path);
				goto out;
			} else if ((ev.handle == h && ev.type < 64) ||
				   ev.type == CHUBBY_EV_MASTER_FAILOVER || ev.type == CHUBBY_EV_SAFE)
				/* Events are hints (and none may have come
				 * across a fail-over or a jeopardy): look. */
				again = 1;
			free(ev.path);
		}
		if (lost)
			break;
		if (again) {
			if ((rc = leader_look(lc, h, path, &next)) != 0)
				goto out;
			if (!view_same(&cur, &next)) {
				leader_reply(lc, path, &next, 1);
				view_free(&cur);
				cur = next;
			} else {
				view_free(&next);
			}
			continue;
		}
		/* Wake now and then to notice a session lost without an event. */
		w = lockctl_wait(-1, 1000);
		if ((w & LOCKCTL_WAKE_TIMEOUT) &&
		    chubby_session_state(lc->client) == CHUBBY_SESSION_EXPIRED)
			lost = 1;
	}
	if (lost) {
		lc->session_lost = 1;
		rc = lockctl_fail(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_SESSION_EXPIRED,
		    "the session was lost while watching %s", path);
	} else {
		rc = LOCKCTL_EXIT_OK;
	}
out:
	view_free(&cur);
	chubby_handle_close(h);
	free(path);
	return rc;
}
