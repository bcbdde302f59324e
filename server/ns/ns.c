/*
 * ns.c: the namespace state machine: what each command does to the nodes,
 * sessions, handles and locks (Chubby §2.3-§2.6), and the read queries.
 *
 * Every command first checks everything that can fail and only then
 * changes state, so a refused command changes nothing and every replica
 * refuses it the same way.  Nothing here looks at a clock: the entry's
 * stamp is the only time.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "xmalloc.h"

#include "ns_int.h"
#include "simknob.h"

/* --- results --- */

void
ns_result_init(struct ns_result *res)
{
	memset(res, 0, sizeof *res);
}

void
ns_result_free(struct ns_result *res)
{
	size_t i;

	for (i = 0; i < res->nevents; i++)
		free(res->events[i].path);
	free(res->events);
	for (i = 0; i < res->nnode_events; i++) {
		free(res->node_events[i].node);
		free(res->node_events[i].path);
	}
	free(res->node_events);
	for (i = 0; i < res->nnames; i++)
		free(res->names[i]);
	free(res->names);
	free(res->seq.path);
	memset(res, 0, sizeof *res);
}

static int
res_fail(struct ns_result *res, int status, const char *a, const char *b, const char *c)
{
	res->status = status;
	ns_msg_set(res->msg, sizeof res->msg, a, b, c);
	return status;
}

/* E_TOO_LARGE naming the limit and the chubby.conf option that sets it, so
 * that whoever meets it knows what to change: "contents of 300000 bytes
 * exceed max_contents (262144)". */
static int
too_large(struct ns_result *res, const char *what, size_t len, size_t max)
{
	char head[96];

	ns_msg_u64(head, sizeof head, what, len, " bytes exceed max_contents (");
	ns_msg_u64(res->msg, sizeof res->msg, head, max, ")");
	return res->status = CHUBBY_E_TOO_LARGE;
}

static void
ev_add(struct ns_result *res, const struct ns_handle *h, uint32_t type, const char *path)
{
	struct ns_event *e;

	if (res->nevents == res->events_cap) {
		res->events_cap = res->events_cap == 0 ? 8 : res->events_cap * 2;
		res->events = xrealloc(res->events, res->events_cap * sizeof *res->events);
	}
	e = &res->events[res->nevents++];
	memset(e, 0, sizeof *e);
	e->session = h->session;
	e->handle = h->id;
	e->type = type;
	e->path = xstrdup(path);
}

/* TYPE raised on N, for handles kept outside the namespace (struct
 * ns_node_event): after the events of N's own handles so far. */
static void
ev_nodeev(struct ns_result *res, const struct ns_node *n, uint32_t type, const char *path,
    uint64_t session, uint64_t handle)
{
	struct ns_node_event *e;

	if (res->nnode_events == res->node_events_cap) {
		res->node_events_cap = res->node_events_cap == 0 ? 8 : res->node_events_cap * 2;
		res->node_events =
		    xrealloc(res->node_events, res->node_events_cap * sizeof *res->node_events);
	}
	e = &res->node_events[res->nnode_events++];
	memset(e, 0, sizeof *e);
	e->type = type;
	e->node = xstrdup(n->path);
	e->instance = n->instance;
	e->path = xstrdup(path);
	e->session = session;
	e->handle = handle;
	e->at = res->nevents;
}

/*
 * TYPE to every handle open on N that asked for it (Chubby §2.5), in
 * handle id order; a poisoned handle gets nothing (its operations fail).
 * Then noted for the handles kept in memory.
 */
static void
ev_node(struct ns_result *res, const struct ns_node *n, uint32_t type, const char *path)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nhandles; i++)
		if ((n->handles[i]->event_mask & type) && !n->handles[i]->poisoned)
			ev_add(res, n->handles[i], type, path);
	ev_nodeev(res, n, type, path, 0, 0);
}

/* --- lookups and containers --- */

struct ns_node *
ns_node_find(const struct ns *ns, const char *path, size_t len, size_t *pos)
{
	size_t lo = 0, hi = ns->nnodes, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = ns_path_cmp(ns->nodes[mid]->path, ns->nodes[mid]->pathlen, path, len);
		if (c == 0) {
			if (pos != NULL)
				*pos = mid;
			return ns->nodes[mid];
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (pos != NULL)
		*pos = lo;
	return NULL;
}

/* Binary search over an array of pointers to structs whose first member is the id. */
#define ID_FIND(arr, n, key, out, pos)                                                   \
	do {                                                                             \
		size_t lo_ = 0, hi_ = (n), mid_;                                         \
		(out) = NULL;                                                            \
		while (lo_ < hi_) {                                                      \
			mid_ = lo_ + (hi_ - lo_) / 2;                                    \
			if ((arr)[mid_]->id == (key)) {                                  \
				(out) = (arr)[mid_];                                     \
				lo_ = mid_;                                              \
				break;                                                   \
			}                                                                \
			if ((arr)[mid_]->id < (key))                                     \
				lo_ = mid_ + 1;                                          \
			else                                                             \
				hi_ = mid_;                                              \
		}                                                                        \
		(pos) = lo_;                                                             \
	} while (0)

struct ns_session *
ns_session_find(const struct ns *ns, uint64_t id)
{
	struct ns_session *s;
	size_t pos;

	ID_FIND(ns->sessions, ns->nsessions, id, s, pos);
	(void)pos;
	return s;
}

struct ns_session *
ns_session_live(const struct ns *ns, uint64_t id)
{
	struct ns_session *s = ns_session_find(ns, id);

	return s != NULL && !s->orphaned ? s : NULL;
}

/* Remembers that proxy client CLIENT ended: a CLAIM of it is refused.
 * FIFO, the oldest forgotten past NS_MAX_TOMBSTONES (ids are random 63-bit
 * numbers: one is not reused in practice, and a claim that comes that
 * late finds no handles anyway). */
void
ns_tomb_add(struct ns *ns, uint64_t client)
{
	if (client == 0 || ns_client_ended(ns, client))
		return;
	if (ns->tombs == NULL)
		ns->tombs = xcalloc(NS_MAX_TOMBSTONES, sizeof *ns->tombs);
	if (ns->ntombs == NS_MAX_TOMBSTONES) {
		memmove(ns->tombs, ns->tombs + 1, (ns->ntombs - 1) * sizeof *ns->tombs);
		ns->ntombs--;
	}
	ns->tombs[ns->ntombs++] = client;
}

bool
ns_client_ended(const struct ns *ns, uint64_t client)
{
	for (size_t i = 0; i < ns->ntombs; i++)
		if (ns->tombs[i] == client)
			return true;
	return false;
}

struct ns_handle *
ns_handle_find(const struct ns *ns, uint64_t id)
{
	struct ns_handle *h;
	size_t pos;

	ID_FIND(ns->handles, ns->nhandles, id, h, pos);
	(void)pos;
	return h;
}

static void *
grow(void *arr, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return arr;
	*cap = *cap == 0 ? 16 : *cap * 2;
	return xrealloc(arr, *cap * size);
}

/* Both lists are kept in id order (a restored namespace rebuilds them so,
 * and events go out in that order): a handle kept in the master's memory
 * and made for a lock has a high id (NS_MEM_ID_BIT), later ones low. */
void
ns_node_add_handle(struct ns_node *n, struct ns_handle *h)
{
	size_t i = n->nhandles;

	n->handles = grow(n->handles, n->nhandles, &n->handles_cap, sizeof *n->handles);
	while (i > 0 && n->handles[i - 1]->id > h->id)
		i--;
	memmove(&n->handles[i + 1], &n->handles[i], (n->nhandles - i) * sizeof *n->handles);
	n->handles[i] = h;
	n->nhandles++;
}

static void
handles_insert(struct ns *ns, struct ns_handle *h)
{
	size_t i = ns->nhandles;

	ns->handles = grow(ns->handles, ns->nhandles, &ns->handles_cap, sizeof *ns->handles);
	while (i > 0 && ns->handles[i - 1]->id > h->id)
		i--;
	memmove(&ns->handles[i + 1], &ns->handles[i], (ns->nhandles - i) * sizeof *ns->handles);
	ns->handles[i] = h;
	ns->nhandles++;
}

static void
node_remove_handle(struct ns_node *n, const struct ns_handle *h)
{
	size_t i;

	for (i = 0; i < n->nhandles; i++) {
		if (n->handles[i] == h) {
			memmove(&n->handles[i], &n->handles[i + 1],
			    (n->nhandles - i - 1) * sizeof *n->handles);
			n->nhandles--;
			return;
		}
	}
}

void
ns_node_free(struct ns_node *n)
{
	int i;

	if (n == NULL)
		return;
	free(n->path);
	for (i = 0; i < 3; i++)
		free(n->acl[i]);
	free(n->contents);
	free(n->handles);
	free(n);
}

void
ns_handle_free(struct ns_handle *h)
{
	if (h == NULL)
		return;
	free(h->path);
	free(h->seq.path);
	free(h);
}

void
ns_session_free(struct ns_session *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nrecs; i++)
		ns_rec_free(&s->recs[i]);
	free(s->recs);
	free(s->principal);
	free(s);
}

void
ns_state_clear(struct ns *ns)
{
	size_t i;

	for (i = 0; i < ns->nnodes; i++)
		ns_node_free(ns->nodes[i]);
	for (i = 0; i < ns->nhandles; i++)
		ns_handle_free(ns->handles[i]);
	for (i = 0; i < ns->nsessions; i++)
		ns_session_free(ns->sessions[i]);
	free(ns->nodes);
	free(ns->handles);
	free(ns->sessions);
	free(ns->tombs);
	ns->tombs = NULL;
	ns->ntombs = 0;
	ns->nodes = NULL;
	ns->handles = NULL;
	ns->sessions = NULL;
	ns->nnodes = ns->nodes_cap = 0;
	ns->nhandles = ns->handles_cap = 0;
	ns->nsessions = ns->sessions_cap = 0;
	ns->next_session = ns->next_handle = 1;
	ns->next_instance = 1;
	ns->last_stamp = 0;
	ns->lease_cap_ms = 0;
}

static struct ns_node *
node_insert(struct ns *ns, const char *path, size_t len, struct ns_node *parent, uint64_t stamp)
{
	struct ns_node *n = xcalloc(1, sizeof *n);
	size_t pos;

	n->path = ns_strndup(path, len);
	n->pathlen = len;
	n->parent = parent;
	n->instance = ns->next_instance++;
	n->created_ms = n->modified_ms = stamp;
	n->checksum = NS_FNV_INIT;
	(void)ns_node_find(ns, path, len, &pos);
	ns->nodes = grow(ns->nodes, ns->nnodes, &ns->nodes_cap, sizeof *ns->nodes);
	memmove(&ns->nodes[pos + 1], &ns->nodes[pos], (ns->nnodes - pos) * sizeof *ns->nodes);
	ns->nodes[pos] = n;
	ns->nnodes++;
	if (parent != NULL)
		parent->nchildren++;
	return n;
}

static void
reset_root(struct ns *ns)
{
	struct ns_node *root;
	int i;

	ns_state_clear(ns);
	root = node_insert(ns, ns->root, ns->rootlen, NULL, 0);
	root->is_dir = true;
	for (i = 0; i < 3; i++)
		root->acl[i] = xstrdup("");
}

struct ns *
ns_new(const struct ns_config *cfg)
{
	struct ns *ns;
	char msg[128];
	size_t n;

	if (cfg == NULL || cfg->cell == NULL ||
	    ns_name_check(cfg->cell, strlen(cfg->cell)) != CHUBBY_OK)
		return NULL;
	ns = xcalloc(1, sizeof *ns);
	ns->cell = xstrdup(cfg->cell);
	n = strlen(cfg->cell);
	ns->root = xmalloc(n + 5);
	memcpy(ns->root, "/ls/", 4);
	memcpy(ns->root + 4, cfg->cell, n + 1);
	ns->rootlen = n + 4;
	ns->superuser = xstrdup(cfg->superuser != NULL ? cfg->superuser : "");
	ns->max_contents = cfg->max_contents != 0 ? cfg->max_contents : 256 * 1024;
	ns->lock_delay_max_ms = cfg->lock_delay_max_ms != 0 || cfg->lock_delay_given ?
	    cfg->lock_delay_max_ms :
	    NS_MAX_LOCK_DELAY_MS;
	if (ns->lock_delay_max_ms > NS_MAX_LOCK_DELAY_MS)
		ns->lock_delay_max_ms = NS_MAX_LOCK_DELAY_MS;
	ns->lock_delay_default_ms = cfg->lock_delay_default_ms != 0 || cfg->lock_delay_given ?
	    cfg->lock_delay_default_ms : 15000;
	if (ns->lock_delay_default_ms > ns->lock_delay_max_ms)
		ns->lock_delay_default_ms = ns->lock_delay_max_ms;
	ns->max_nodes = cfg->max_nodes != 0 ? cfg->max_nodes : 100000;
	ns->max_sessions = cfg->max_sessions != 0 ? cfg->max_sessions : 10000;
	ns->max_handles = cfg->max_handles != 0 ? cfg->max_handles : 1000;
	ns->max_path = cfg->max_path != 0 ? cfg->max_path : 1024;
	ns->max_depth = cfg->max_depth != 0 ? cfg->max_depth : 32;
	if (cfg->acl_dir != NULL)
		ns->acl_dir = xstrdup(cfg->acl_dir);
	else {
		ns->acl_dir = xmalloc(ns->rootlen + 5);
		memcpy(ns->acl_dir, ns->root, ns->rootlen);
		memcpy(ns->acl_dir + ns->rootlen, "/acl", 5);
	}
	if (ns_path_check(ns, ns->acl_dir, strlen(ns->acl_dir), msg, sizeof msg) != CHUBBY_OK ||
	    strcmp(ns->acl_dir, ns->root) == 0 || ns->rootlen + 1 > ns->max_path) {
		ns_free(ns);
		return NULL;
	}
	reset_root(ns);
	return ns;
}

void
ns_free(struct ns *ns)
{
	if (ns == NULL)
		return;
	ns_state_clear(ns);
	free(ns->cell);
	free(ns->root);
	free(ns->superuser);
	free(ns->acl_dir);
	free(ns);
}

/* --- permissions (Chubby §2.3) --- */

/*
 * May PRINCIPAL pass the ACL named NAME?  The superuser always may; an
 * empty name is open to every authenticated principal; otherwise NAME is a
 * file in the ACL directory listing principals, and a missing file (or a
 * directory) admits nobody.
 */
static char *acl_file_path(const struct ns *ns, const char *name, size_t nl);

static bool
acl_allows(const struct ns *ns, const char *principal, const char *name)
{
	const struct ns_node *f;
	char *path;

	if (ns->superuser[0] != '\0' && strcmp(principal, ns->superuser) == 0)
		return true;
	if (name[0] == '\0')
		return true;
	path = acl_file_path(ns, name, strlen(name));
	f = ns_node_find(ns, path, strlen(path), NULL);
	free(path);
	if (f == NULL || f->is_dir)
		return false;
	return ns_acl_lists(f->contents, f->len, principal);
}

/* ACL names as a command gives them: "" or one name component. */
static int
acl_names_check(const struct ns_cmd *c, struct ns_result *res)
{
	int i;

	for (i = 0; i < 3; i++) {
		if (!c->acl_set[i] || c->acllen[i] == 0)
			continue;
		if (ns_name_check(c->acl[i], c->acllen[i]) != CHUBBY_OK)
			return res_fail(res, CHUBBY_E_BAD_NAME,
			    "an ACL name must be empty or one name component", NULL, NULL);
	}
	return CHUBBY_OK;
}

static const char *const acl_word[3] = { "read", "write", "change-ACL" };

/* --- node metadata --- */

void
ns_fill_stat(const struct ns_node *n, struct ns_stat *st)
{
	int i;

	st->instance = n->instance;
	st->content_gen = n->content_gen;
	st->lock_gen = n->lock_gen;
	st->acl_gen = n->acl_gen;
	st->checksum = n->checksum;
	st->length = n->len;
	st->created_ms = n->created_ms;
	st->modified_ms = n->modified_ms;
	st->is_dir = n->is_dir;
	st->ephemeral = n->ephemeral;
	st->lock_mode = n->lock_mode;
	st->lock_holders = n->nholders;
	st->lock_delay_until_ms = n->delay_until_ms;
	for (i = 0; i < 3; i++)
		st->acl[i] = n->acl[i];
}

/* --- state changes that cannot fail --- */

static void node_reap(struct ns *ns, struct ns_node *n, struct ns_result *res);

/* Removes N (no children) from the tree; its handles become invalid. */
static void
node_delete(struct ns *ns, struct ns_node *n, struct ns_result *res)
{
	struct ns_node *parent = n->parent;
	size_t i, pos;

	for (i = 0; i < n->nhandles; i++) {
		struct ns_handle *h = n->handles[i];

		if ((h->event_mask & NS_EV_HANDLE_INVALID) && !h->poisoned)
			ev_add(res, h, NS_EV_HANDLE_INVALID, n->path);
		h->node = NULL;
		h->held = NS_LOCK_NONE;
	}
	ev_nodeev(res, n, NS_EV_HANDLE_INVALID, n->path, 0, 0);
	ev_node(res, parent, NS_EV_CHILD_REMOVED, n->path);
	(void)ns_node_find(ns, n->path, n->pathlen, &pos);
	memmove(&ns->nodes[pos], &ns->nodes[pos + 1], (ns->nnodes - pos - 1) * sizeof *ns->nodes);
	ns->nnodes--;
	ns_node_free(n);
	if (parent != NULL) {
		parent->nchildren--;
		node_reap(ns, parent, res);
	}
}

/*
 * An ephemeral node goes when no handle has it open, and for a directory
 * when it is empty too (Chubby §2.3); a parent may follow.
 */
static void
node_reap(struct ns *ns, struct ns_node *n, struct ns_result *res)
{
	if (n->ephemeral && n->nhandles == 0 && n->nchildren == 0)
		node_delete(ns, n, res);
}

/* N's contents are now STAMP's write of LEN bytes (DATA, owned by N
 * from now on, or NULL): its generation advances and its watchers, and
 * its directory's, hear of it with that generation (etcd's watch events
 * carry the revision for the same reason: a reader tells which write it
 * saw). */
static void
contents_set(struct ns_node *n, uint8_t *data, size_t len, uint64_t stamp,
    struct ns_result *res)
{
	size_t first = res->nevents, nfirst = res->nnode_events;

	free(n->contents);
	n->contents = data;
	n->len = len;
	n->checksum = ns_fnv1a(NS_FNV_INIT, n->contents, n->len);
	n->content_gen++;
	n->modified_ms = stamp;
	ev_node(res, n, NS_EV_CONTENTS_MODIFIED, n->path);
	ev_node(res, n->parent, NS_EV_CHILD_MODIFIED, n->path);
	for (size_t i = nfirst; i < res->nnode_events; i++) {
		res->node_events[i].has_gen = true;
		res->node_events[i].gen = n->content_gen;
	}
	for (size_t i = first; i < res->nevents; i++) {
		res->events[i].has_gen = true;
		res->events[i].gen = n->content_gen;
	}
}

/* Whether freeing H's lock frees the exclusive lock N's record was
 * written under (docs/NAMESPACE.md "Lock records"). */
static bool
frees_record(const struct ns_handle *h)
{
	const struct ns_node *n = h->node;

	return n != NULL && h->held == NS_LOCK_EXCLUSIVE && n->record_gen != 0 &&
	    n->record_gen == n->lock_gen;
}

/* Frees H's lock; with DELAY (its session expired) no one may take the
 * lock until its lock-delay has passed (Chubby §2.4).  A lock record
 * written under it goes with it: the contents become empty, a write like
 * any other, so that no reader finds the name of a holder that is gone
 * (a leader that crashed, whose session ended). */
static void
lock_drop(struct ns_handle *h, bool delay, uint64_t stamp, struct ns_result *res)
{
	struct ns_node *n = h->node;
	uint64_t until;

	if (n == NULL || h->held == NS_LOCK_NONE)
		return;
	if (frees_record(h)) {
		n->record_gen = 0;
		contents_set(n, NULL, 0, stamp, res);
	}
	h->held = NS_LOCK_NONE;
	if (--n->nholders == 0)
		n->lock_mode = NS_LOCK_NONE;
	/* SIM_KNOB: broken on purpose in the simulator only (no lock-delay). */
	if (delay && h->lock_delay_ms > 0 && !SIM_KNOB(SIM_KNOB_NO_LOCK_DELAY)) {
		until = stamp + h->lock_delay_ms;
		if (until > n->delay_until_ms)
			n->delay_until_ms = until;
	}
}

static void
handle_close(struct ns *ns, struct ns_handle *h, bool expired, uint64_t stamp,
    struct ns_result *res)
{
	struct ns_session *s = ns_session_find(ns, h->session);
	struct ns_node *n = h->node;
	struct ns_handle *found;
	size_t pos;

	lock_drop(h, expired, stamp, res);
	ID_FIND(ns->handles, ns->nhandles, h->id, found, pos);
	if (found != NULL) {
		memmove(&ns->handles[pos], &ns->handles[pos + 1],
		    (ns->nhandles - pos - 1) * sizeof *ns->handles);
		ns->nhandles--;
	}
	if (s != NULL)
		s->nhandles--;
	if (n != NULL)
		node_remove_handle(n, h);
	ns_handle_free(h);
	if (n != NULL)
		node_reap(ns, n, res);
}

/* --- handle checks shared by commands and queries --- */

enum {
	HC_NODE = 0x1,  /* the node must still exist */
	HC_SEQ = 0x2,   /* a sequencer set on the handle must be current */
	HC_POISON = 0x4 /* a poisoned handle is refused */
};

static bool
seq_current(const struct ns *ns, const char *path, size_t len, uint64_t mode, uint64_t gen,
    uint64_t inst)
{
	const struct ns_node *n = ns_node_find(ns, path, len, NULL);

	/* SIM_KNOB: broken on purpose in the simulator only (generation unchecked). */
	return n != NULL && n->instance == inst &&
	    (n->lock_gen == gen || SIM_KNOB(SIM_KNOB_SEQ_NO_GEN)) &&
	    (uint64_t)n->lock_mode == mode && mode != NS_LOCK_NONE;
}

static int
handle_get(const struct ns *ns, uint64_t session, uint64_t id, int checks,
    struct ns_result *res, struct ns_handle **out)
{
	struct ns_handle *h;

	if (session == 0 || ns_session_live(ns, session) == NULL)
		return res_fail(res, CHUBBY_E_BAD_SESSION, "no such session", NULL, NULL);
	h = ns_handle_find(ns, id);
	if (h == NULL || h->session != session)
		return res_fail(res, CHUBBY_E_BAD_HANDLE, "no such handle in this session", NULL,
		    NULL);
	if ((checks & HC_POISON) && h->poisoned)
		return res_fail(res, CHUBBY_E_CANCELLED, "handle on ", h->path, " was poisoned");
	if ((checks & HC_NODE) && h->node == NULL)
		return res_fail(res, CHUBBY_E_BAD_HANDLE, "node ", h->path,
		    " was deleted since the handle was opened");
	if ((checks & HC_SEQ) && h->has_seq &&
	    !seq_current(ns, h->seq.path, strlen(h->seq.path), (uint64_t)h->seq.mode,
		h->seq.lock_gen, h->seq.instance))
		return res_fail(res, CHUBBY_E_STALE_SEQUENCER, "the handle's sequencer for ",
		    h->seq.path, " is no longer current");
	*out = h;
	return CHUBBY_OK;
}

#define HC_ALL (HC_NODE | HC_SEQ | HC_POISON)

static const char *
principal_of(const struct ns *ns, const struct ns_handle *h)
{
	const struct ns_session *s = ns_session_find(ns, h->session);

	return s != NULL ? s->principal : "";
}

/* --- commands --- */

static int
cmd_session_start(struct ns *ns, const struct ns_cmd *c, struct ns_result *res)
{
	struct ns_session *s;
	size_t i;

	if (c->session != 0)
		return res_fail(res, CHUBBY_E_INVALID, "SESSION_START is the master's (issuer 0)",
		    NULL, NULL);
	if (c->slen == 0 || c->slen > NS_MAX_PRINCIPAL)
		return res_fail(res, CHUBBY_E_INVALID, "principal must be 1 to 256 bytes", NULL,
		    NULL);
	/* ACL files list one principal a line: control bytes could never match. */
	for (i = 0; i < c->slen; i++)
		if ((unsigned char)c->str[i] < 0x20 || c->str[i] == 0x7f)
			return res_fail(res, CHUBBY_E_INVALID,
			    "principal contains a control character", NULL, NULL);
	if (ns->nsessions >= ns->max_sessions)
		return res_fail(res, CHUBBY_E_LIMIT, "too many sessions", NULL, NULL);
	s = xcalloc(1, sizeof *s);
	s->id = ns->next_session++;
	s->principal = ns_strndup(c->str, c->slen);
	s->proxy = c->proxy;
	ns->sessions = grow(ns->sessions, ns->nsessions, &ns->sessions_cap,
	    sizeof *ns->sessions);
	ns->sessions[ns->nsessions++] = s; /* ids only grow: stays sorted */
	res->session = s->id;
	return CHUBBY_OK;
}

static int
cmd_session_end(struct ns *ns, const struct ns_cmd *c, uint64_t stamp, struct ns_result *res)
{
	struct ns_session *s = ns_session_find(ns, c->target), *found;
	struct ns_handle **mine;
	size_t i, n = 0, pos;

	size_t kept = 0;

	if (s == NULL)
		return res_fail(res, CHUBBY_E_BAD_SESSION, "no such session", NULL, NULL);
	if (c->session != 0 && c->session != c->target)
		return res_fail(res, CHUBBY_E_PERMISSION, "a session may end only itself", NULL,
		    NULL);
	if (c->reason != NS_END_CLOSED && c->reason != NS_END_EXPIRED)
		return res_fail(res, CHUBBY_E_INVALID, "reason must be closed (1) or expired (2)",
		    NULL, NULL);
	/* An orphaned session ends when its claim window does, by the master
	 * (docs/NAMESPACE.md "Proxies"). */
	if (s->orphaned && c->session != 0)
		return res_fail(res, CHUBBY_E_BAD_SESSION, "no such session", NULL, NULL);
	mine = xcalloc(s->nhandles + 1, sizeof *mine);
	for (i = 0; i < ns->nhandles && n < s->nhandles; i++)
		if (ns->handles[i]->session == s->id)
			mine[n++] = ns->handles[i];
	for (i = 0; i < n; i++) {
		/* A live proxy session's tagged handles outlive it, for a
		 * CLAIM; an orphan's end is its clients' (tombstones). */
		if (mine[i]->client != 0 && s->proxy && !s->orphaned) {
			kept++;
			continue;
		}
		if (mine[i]->client != 0)
			ns_tomb_add(ns, mine[i]->client);
		handle_close(ns, mine[i], c->reason == NS_END_EXPIRED || s->orphaned, stamp, res);
	}
	free(mine);
	/* Events for the ending session's own handles would go nowhere. */
	for (i = n = 0; i < res->nevents; i++) {
		if (res->events[i].session == s->id)
			free(res->events[i].path);
		else
			res->events[n++] = res->events[i];
	}
	res->nevents = n;
	if (kept > 0) {
		s->orphaned = true;
		return CHUBBY_OK;
	}
	ID_FIND(ns->sessions, ns->nsessions, c->target, found, pos);
	if (found == NULL || ns->nsessions == 0)
		return CHUBBY_E_INTERNAL; /* cannot be: found above */
	memmove(&ns->sessions[pos], &ns->sessions[pos + 1],
	    (ns->nsessions - pos - 1) * sizeof *ns->sessions);
	ns->nsessions--;
	ns_session_free(s);
	return CHUBBY_OK;
}

static int
cmd_open(struct ns *ns, const struct ns_cmd *c, uint64_t stamp, struct ns_result *res)
{
	struct ns_session *s = ns_session_find(ns, c->session);
	struct ns_node *n, *parent = NULL;
	struct ns_handle *h;
	const char *acl[3];
	size_t plen;
	bool create = false;
	int i, rc;

	if (c->session == 0 || s == NULL || s->orphaned)
		return res_fail(res, CHUBBY_E_BAD_SESSION, "no such session", NULL, NULL);
	if (c->client != 0 && !s->proxy)
		return res_fail(res, CHUBBY_E_INVALID, "a client tag needs a proxy session", NULL,
		    NULL);
	if (c->client != 0 && ns_client_ended(ns, c->client))
		return res_fail(res, CHUBBY_E_SESSION_EXPIRED, "that client session has ended",
		    NULL, NULL);
	if ((c->flags & ~(uint64_t)NS_O_ALL) != 0 || (c->event_mask & ~(uint64_t)NS_EV_ALL) != 0)
		return res_fail(res, CHUBBY_E_INVALID, "unknown open flag or event bit", NULL,
		    NULL);
	/* Events about contents and children tell what a reader would see: they
	 * need the read intent, and so the read ACL (lock events need only the
	 * write intent a lock needs). */
	if ((c->event_mask & (NS_EV_CONTENTS_MODIFIED | NS_EV_CHILD_ADDED | NS_EV_CHILD_REMOVED |
				 NS_EV_CHILD_MODIFIED)) != 0 &&
	    !(c->flags & NS_O_READ))
		return res_fail(res, CHUBBY_E_PERMISSION,
		    "events about contents or children need a handle opened for reading", NULL, NULL);
	if ((c->flags & (NS_O_EXCL | NS_O_EPHEMERAL | NS_O_DIR)) && !(c->flags & NS_O_CREATE))
		return res_fail(res, CHUBBY_E_INVALID,
		    "exclusive, ephemeral and directory need the create flag", NULL, NULL);
	if ((rc = ns_path_check(ns, c->str, c->slen, res->msg, sizeof res->msg)) != CHUBBY_OK)
		return res->status = rc;
	if (c->acl_set[0] && (rc = acl_names_check(c, res)) != CHUBBY_OK)
		return rc;
	if (s->nhandles >= ns->max_handles)
		return res_fail(res, CHUBBY_E_LIMIT, "too many handles in this session", NULL,
		    NULL);

	if ((n = ns_node_find(ns, c->str, c->slen, NULL)) != NULL) {
		if (c->flags & NS_O_EXCL)
			return res_fail(res, CHUBBY_E_EXISTS, "node ", n->path, " already exists");
		for (i = 0; i < 3; i++)
			acl[i] = n->acl[i];
	} else {
		if (!(c->flags & NS_O_CREATE))
			return res_fail(res, CHUBBY_E_NOT_FOUND, "no such node", NULL, NULL);
		for (plen = c->slen; c->str[plen - 1] != '/'; plen--)
			;
		parent = ns_node_find(ns, c->str, plen - 1, NULL);
		if (parent == NULL)
			return res_fail(res, CHUBBY_E_NOT_FOUND, "parent directory does not exist",
			    NULL, NULL);
		if (!parent->is_dir)
			return res_fail(res, CHUBBY_E_NOT_DIR, "parent ", parent->path,
			    " is not a directory");
		if (!acl_allows(ns, s->principal, parent->acl[NS_ACL_WRITE]))
			return res_fail(res, CHUBBY_E_PERMISSION, "no write permission on ",
			    parent->path, " to create a node in it");
		if ((c->flags & NS_O_DIR) && c->have_contents && c->clen > 0)
			return res_fail(res, CHUBBY_E_IS_DIR, "a directory has no contents", NULL,
			    NULL);
		if (c->have_contents && c->clen > ns->max_contents)
			return too_large(res, "initial contents of ", c->clen, ns->max_contents);
		if (ns->nnodes >= ns->max_nodes)
			return res_fail(res, CHUBBY_E_LIMIT, "too many nodes in the cell", NULL,
			    NULL);
		/* Each name not given is the parent's (Chubby §2.3). */
		for (i = 0; i < 3; i++)
			acl[i] = c->acl_set[i] ? NULL : parent->acl[i];
		create = true;
	}
	/* Intents are checked at open, as Chubby does (§2.3, §2.6); a node made
	 * now is judged by the ACL names it is about to get. */
	for (i = NS_ACL_READ; i <= NS_ACL_WRITE; i++) {
		char *given = NULL;
		bool ok;

		if (!(c->flags & (i == NS_ACL_READ ? NS_O_READ : NS_O_WRITE)))
			continue;
		if (acl[i] == NULL)
			given = ns_strndup(c->acl[i], c->acllen[i]);
		ok = acl_allows(ns, s->principal, given != NULL ? given : acl[i]);
		free(given);
		if (!ok)
			return res_fail(res, CHUBBY_E_PERMISSION, "no ", acl_word[i],
			    " permission on that node");
	}

	if (create) {
		n = node_insert(ns, c->str, c->slen, parent, stamp);
		n->is_dir = (c->flags & NS_O_DIR) != 0;
		n->ephemeral = (c->flags & NS_O_EPHEMERAL) != 0;
		for (i = 0; i < 3; i++)
			n->acl[i] = acl[i] != NULL ? xstrdup(acl[i]) :
			    ns_strndup(c->acl[i], c->acllen[i]);
		if (c->have_contents && c->clen > 0) {
			n->contents = xmemdup(c->contents, c->clen);
			n->len = c->clen;
			n->checksum = ns_fnv1a(NS_FNV_INIT, n->contents, n->len);
		}
		ev_node(res, parent, NS_EV_CHILD_ADDED, n->path);
	}
	h = xcalloc(1, sizeof *h);
	h->id = ns->next_handle++;
	h->session = s->id;
	h->path = xstrdup(n->path);
	h->node = n;
	h->instance = n->instance;
	h->flags = (uint32_t)c->flags;
	h->lock_delay_ms = !c->have_delay ? ns->lock_delay_default_ms :
	    c->lock_delay > ns->lock_delay_max_ms ? ns->lock_delay_max_ms : c->lock_delay;
	h->event_mask = (uint32_t)c->event_mask;
	h->client = c->client;
	handles_insert(ns, h);
	ns_node_add_handle(n, h);
	s->nhandles++;
	res->handle = h->id;
	res->created = create;
	ns_fill_stat(n, &res->stat);
	return CHUBBY_OK;
}

/* The live proxy session issuing a CLIENT_END or CLAIM. */
static int
proxy_issuer(const struct ns *ns, const struct ns_cmd *c, struct ns_result *res,
    struct ns_session **out)
{
	struct ns_session *s = ns_session_live(ns, c->session);

	if (c->session == 0 || s == NULL)
		return res_fail(res, CHUBBY_E_BAD_SESSION, "no such session", NULL, NULL);
	if (!s->proxy)
		return res_fail(res, CHUBBY_E_INVALID, "not a proxy session", NULL, NULL);
	if (c->client == 0)
		return res_fail(res, CHUBBY_E_INVALID, "client must be > 0", NULL, NULL);
	*out = s;
	return CHUBBY_OK;
}

/* CLIENT_END: closes the client's handles as a SESSION_END closes a
 * session's, in this one command, and remembers the client as ended. */
static int
cmd_client_end(struct ns *ns, const struct ns_cmd *c, uint64_t stamp, struct ns_result *res)
{
	struct ns_session *s;
	struct ns_handle **mine;
	size_t i, n = 0;
	int rc;

	if ((rc = proxy_issuer(ns, c, res, &s)) != CHUBBY_OK)
		return rc;
	mine = xcalloc(s->nhandles + 1, sizeof *mine);
	for (i = 0; i < ns->nhandles && n < s->nhandles; i++)
		if (ns->handles[i]->session == s->id && ns->handles[i]->client == c->client)
			mine[n++] = ns->handles[i];
	for (i = 0; i < n; i++)
		handle_close(ns, mine[i], c->expired, stamp, res);
	free(mine);
	/* Only a client that had handles here ended here.  With none, either
	 * it never opened any (nothing at the master to protect) or another
	 * proxy claimed them (it lives on there: the end is this proxy's
	 * stale record of it running out), and a tombstone would kill it. */
	if (n > 0)
		ns_tomb_add(ns, c->client);
	res->closed = n;
	return CHUBBY_OK;
}

static void
session_remove(struct ns *ns, struct ns_session *s)
{
	struct ns_session *found;
	size_t pos;

	ID_FIND(ns->sessions, ns->nsessions, s->id, found, pos);
	if (found == NULL)
		return;
	memmove(&ns->sessions[pos], &ns->sessions[pos + 1],
	    (ns->nsessions - pos - 1) * sizeof *ns->sessions);
	ns->nsessions--;
	ns_session_free(s);
}

/* CLAIM: the client's handles move, ids, locks and all, from the proxy
 * sessions of the same principal (live or orphaned) to the claimer.  An
 * orphan left with no handle has nothing more to keep: it goes. */
static int
cmd_claim(struct ns *ns, const struct ns_cmd *c, struct ns_result *res)
{
	struct ns_session *s, *from;
	struct ns_handle *h;
	size_t i, n = 0;
	int rc;

	if ((rc = proxy_issuer(ns, c, res, &s)) != CHUBBY_OK)
		return rc;
	if (ns_client_ended(ns, c->client))
		return res_fail(res, CHUBBY_E_SESSION_EXPIRED, "that client session has ended",
		    NULL, NULL);
	for (i = 0; i < ns->nhandles; i++) {
		h = ns->handles[i];
		if (h->client != c->client || h->session == s->id)
			continue;
		from = ns_session_find(ns, h->session);
		if (from != NULL && from->proxy && strcmp(from->principal, s->principal) == 0)
			n++;
	}
	if (s->nhandles + n > ns->max_handles)
		return res_fail(res, CHUBBY_E_LIMIT, "too many handles in this session", NULL,
		    NULL);
	for (i = 0; i < ns->nhandles; i++) {
		h = ns->handles[i];
		if (h->client != c->client || h->session == s->id)
			continue;
		from = ns_session_find(ns, h->session);
		if (from == NULL || !from->proxy || strcmp(from->principal, s->principal) != 0)
			continue;
		h->session = s->id;
		s->nhandles++;
		if (--from->nhandles == 0 && from->orphaned)
			session_remove(ns, from);
	}
	res->closed = n;
	return CHUBBY_OK;
}

static int
cmd_close(struct ns *ns, const struct ns_cmd *c, uint64_t stamp, struct ns_result *res)
{
	struct ns_handle *h;
	int rc;

	if ((rc = handle_get(ns, c->session, c->handle, 0, res, &h)) != CHUBBY_OK)
		return rc;
	handle_close(ns, h, false, stamp, res);
	return CHUBBY_OK;
}

static int
cmd_poison(struct ns *ns, const struct ns_cmd *c, struct ns_result *res)
{
	struct ns_handle *h;
	int rc;

	if ((rc = handle_get(ns, c->session, c->handle, 0, res, &h)) != CHUBBY_OK)
		return rc;
	h->poisoned = true;
	return CHUBBY_OK;
}

static int
cmd_set_contents(struct ns *ns, const struct ns_cmd *c, uint64_t stamp, struct ns_result *res)
{
	struct ns_handle *h;
	struct ns_node *n;
	int rc;

	if ((rc = handle_get(ns, c->session, c->handle, HC_ALL, res, &h)) != CHUBBY_OK)
		return rc;
	n = h->node;
	if (!(h->flags & NS_O_WRITE))
		return res_fail(res, CHUBBY_E_PERMISSION, "handle was not opened for writing",
		    NULL, NULL);
	if (n->is_dir)
		return res_fail(res, CHUBBY_E_IS_DIR, n->path, " is a directory", NULL);
	if (c->clen > ns->max_contents)
		return too_large(res, "contents of ", c->clen, ns->max_contents);
	if ((c->sc_flags & ~(uint64_t)NS_SC_ALL) != 0)
		return res_fail(res, CHUBBY_E_INVALID, "unknown SET_CONTENTS flags", NULL, NULL);
	/* A record of the lock is written by its exclusive holder only: it
	 * is cleared when that holder's lock is freed. */
	if ((c->sc_flags & NS_SC_LOCK_RECORD) && h->held != NS_LOCK_EXCLUSIVE)
		return res_fail(res, CHUBBY_E_NOT_HELD, "a lock record is written under the "
		    "exclusive lock, which the handle does not hold on ", n->path, NULL);
	if (c->have_expected && c->expected != n->content_gen) {
		ns_msg_u64(res->msg, sizeof res->msg, "content generation is now ",
		    n->content_gen, "");
		return res->status = CHUBBY_E_GEN_MISMATCH;
	}
	/* Any other write takes the record's place: it is not cleared. */
	n->record_gen = (c->sc_flags & NS_SC_LOCK_RECORD) ? n->lock_gen : 0;
	contents_set(n, c->clen > 0 ? xmemdup(c->contents, c->clen) : NULL, c->clen, stamp,
	    res);
	ns_fill_stat(n, &res->stat);
	return CHUBBY_OK;
}

static int
cmd_set_acl(struct ns *ns, const struct ns_cmd *c, uint64_t stamp, struct ns_result *res)
{
	struct ns_handle *h;
	struct ns_node *n;
	int i, rc;

	if ((rc = handle_get(ns, c->session, c->handle, HC_ALL, res, &h)) != CHUBBY_OK)
		return rc;
	n = h->node;
	if ((rc = acl_names_check(c, res)) != CHUBBY_OK)
		return rc;
	/* Checked now rather than at open: the right to change rights. */
	if (!acl_allows(ns, principal_of(ns, h), n->acl[NS_ACL_CHANGE]))
		return res_fail(res, CHUBBY_E_PERMISSION, "no change-ACL permission on ", n->path,
		    NULL);
	for (i = 0; i < 3; i++) {
		if (!c->acl_set[i])
			continue;
		free(n->acl[i]);
		n->acl[i] = ns_strndup(c->acl[i], c->acllen[i]);
	}
	n->acl_gen++;
	n->modified_ms = stamp;
	ev_node(res, n->parent, NS_EV_CHILD_MODIFIED, n->path);
	ns_fill_stat(n, &res->stat);
	return CHUBBY_OK;
}

/* The ACL file NAME's full path in the ACL directory (malloc'd). */
static char *
acl_file_path(const struct ns *ns, const char *name, size_t nl)
{
	size_t dl = strlen(ns->acl_dir);
	char *path = xmalloc(dl + nl + 2);

	memcpy(path, ns->acl_dir, dl);
	path[dl] = '/';
	memcpy(path + dl + 1, name, nl);
	path[dl + 1 + nl] = '\0';
	return path;
}

/* A new directory or file at PATH (missing, its parent present) with
 * ACL names ACL (NULL: the parent's). */
static struct ns_node *
init_node(struct ns *ns, const char *path, bool dir, const char *const *acl, uint64_t stamp,
    struct ns_result *res)
{
	struct ns_node *parent, *n;
	size_t plen, len = strlen(path);
	int i;

	for (plen = len; path[plen - 1] != '/'; plen--)
		;
	parent = ns_node_find(ns, path, plen - 1, NULL);
	n = node_insert(ns, path, len, parent, stamp);
	n->is_dir = dir;
	for (i = 0; i < 3; i++)
		n->acl[i] = xstrdup(acl != NULL ? acl[i] : parent->acl[i]);
	ev_node(res, parent, NS_EV_CHILD_ADDED, n->path);
	return n;
}

/*
 * LEASE_CAP: the longest session lease a master may grant from now on.
 * Only the master's own command (session 0), like INIT_ACLS; a day at most,
 * the longest lease a client takes (libchubby's CSESS_LEASE_CAP).
 */
static int
cmd_lease_cap(struct ns *ns, const struct ns_cmd *c, struct ns_result *res)
{
	if (c->session != 0)
		return res_fail(res, CHUBBY_E_PERMISSION, "only the master issues LEASE_CAP", NULL,
		    NULL);
	if (c->target > 24ull * 3600 * 1000)
		return res_fail(res, CHUBBY_E_INVALID, "a lease cap longer than a day", NULL, NULL);
	ns->lease_cap_ms = c->target;
	return CHUBBY_OK;
}

/*
 * INIT_ACLS (a new cell's first command, proposed by its first master;
 * docs/NAMESPACE.md "Permissions"): sets the root's three ACL names, makes
 * the ACL directory (and any missing parent, inheriting), the ACL
 * administrators' file holding ADMINS, and an empty file for each other
 * ACL name the root gives; the ACL directory names the administrators'
 * file as its three ACLs, and its files inherit them.  Only a cell where
 * no node was ever made and the root's ACL never set takes it: anywhere
 * else (an existing cell, a second copy) it changes nothing, so an
 * existing cell's ACLs are never rewritten.
 */
static int
cmd_init_acls(struct ns *ns, const struct ns_cmd *c, uint64_t stamp, struct ns_result *res)
{
	static const char *const admins[3] = { NS_ACL_ADMINS, NS_ACL_ADMINS, NS_ACL_ADMINS };
	struct ns_node *root = ns->nodes[0], *n;
	size_t dl = strlen(ns->acl_dir), need, k;
	char *path;
	int i, j, rc;

	if (c->session != 0)
		return res_fail(res, CHUBBY_E_PERMISSION, "only the master issues INIT_ACLS", NULL,
		    NULL);
	if (!ns_is_new(ns))
		return res_fail(res, CHUBBY_E_EXISTS,
		    "the cell is not new: its ACLs are set already", NULL, NULL);
	if ((rc = acl_names_check(c, res)) != CHUBBY_OK)
		return rc;
	if (c->clen > ns->max_contents)
		return res_fail(res, CHUBBY_E_TOO_LARGE,
		    "the ACL administrators' list is larger than the cell's limit", NULL, NULL);
	if (memchr(c->contents, '\0', c->clen) != NULL)
		return res_fail(res, CHUBBY_E_INVALID,
		    "the ACL administrators' list holds a NUL byte", NULL, NULL);
	/* Nodes to make: the ACL directory's missing parents, it, the
	 * administrators' file and one file per root ACL name. */
	need = 2 + 3;
	for (k = ns->rootlen + 1; k < dl; k++)
		need += ns->acl_dir[k] == '/';
	if (ns->nnodes + need > ns->max_nodes)
		return res_fail(res, CHUBBY_E_LIMIT, "too many nodes in the cell", NULL, NULL);
	if (dl + 1 + sizeof NS_ACL_ADMINS > ns->max_path)
		return res_fail(res, CHUBBY_E_BAD_NAME, "the ACL directory's name is too long",
		    NULL, NULL);
	for (i = 0; i < 3; i++)
		if (c->acllen[i] != 0 && dl + 1 + c->acllen[i] > ns->max_path)
			return res_fail(res, CHUBBY_E_BAD_NAME, "an ACL file's name is too long",
			    NULL, NULL);

	for (i = 0; i < 3; i++) {
		free(root->acl[i]);
		root->acl[i] = ns_strndup(c->acl[i], c->acllen[i]);
	}
	root->acl_gen++;
	root->modified_ms = stamp;
	/* Missing parents of the ACL directory inherit, as OPEN would. */
	for (k = ns->rootlen + 1; k <= dl; k++) {
		if (k < dl && ns->acl_dir[k] != '/')
			continue;
		if (ns_node_find(ns, ns->acl_dir, k, NULL) != NULL)
			continue;
		path = ns_strndup(ns->acl_dir, k);
		(void)init_node(ns, path, true, k == dl ? admins : NULL, stamp, res);
		free(path);
	}
	path = acl_file_path(ns, NS_ACL_ADMINS, strlen(NS_ACL_ADMINS));
	n = init_node(ns, path, false, NULL, stamp, res);
	free(path);
	if (c->clen > 0) {
		n->contents = xmemdup(c->contents, c->clen);
		n->len = c->clen;
		n->checksum = ns_fnv1a(NS_FNV_INIT, n->contents, n->len);
	}
	/* An empty file for each ACL name the root gives: it exists, so it may
	 * be named, and it admits nobody until someone lists principals. */
	for (i = 0; i < 3; i++) {
		bool seen = c->acllen[i] == 0 ||
		    (c->acllen[i] == strlen(NS_ACL_ADMINS) &&
			memcmp(c->acl[i], NS_ACL_ADMINS, c->acllen[i]) == 0);
		for (j = 0; j < i && !seen; j++)
			seen = c->acllen[j] == c->acllen[i] &&
			    memcmp(c->acl[j], c->acl[i], c->acllen[i]) == 0;
		if (seen)
			continue;
		path = acl_file_path(ns, c->acl[i], c->acllen[i]);
		(void)init_node(ns, path, false, NULL, stamp, res);
		free(path);
	}
	ns_fill_stat(root, &res->stat);
	return CHUBBY_OK;
}

bool
ns_is_new(const struct ns *ns)
{
	/* The root is instance 1 and only INIT_ACLS or SET_ACL raise its ACL
	 * generation; any node ever made took another instance. */
	return ns->nnodes == 1 && ns->next_instance == 2 && ns->nodes[0]->acl_gen == 0;
}

int
ns_acl_file_check(const struct ns *ns, const char *name, char *msg, size_t msglen)
{
	const struct ns_node *f;
	char *path;
	int rc = CHUBBY_OK;

	if (name == NULL || name[0] == '\0')
		return CHUBBY_OK;
	if (ns_name_check(name, strlen(name)) != CHUBBY_OK) {
		ns_msg_set(msg, msglen, "ACL name \"", name,
		    "\" must be empty or one name component");
		return CHUBBY_E_BAD_NAME;
	}
	path = acl_file_path(ns, name, strlen(name));
	f = ns_node_find(ns, path, strlen(path), NULL);
	if (f == NULL || f->is_dir) {
		ns_msg_set(msg, msglen, f == NULL ? "no ACL file " : "not an ACL file (a directory) ",
		    path, "; create it first (it lists principals, one a line)");
		rc = f == NULL ? CHUBBY_E_NOT_FOUND : CHUBBY_E_IS_DIR;
	}
	free(path);
	return rc;
}

static int
cmd_delete(struct ns *ns, const struct ns_cmd *c, struct ns_result *res)
{
	struct ns_handle *h;
	struct ns_node *n;
	int rc;

	if ((rc = handle_get(ns, c->session, c->handle, HC_ALL, res, &h)) != CHUBBY_OK)
		return rc;
	n = h->node;
	if (!(h->flags & NS_O_WRITE))
		return res_fail(res, CHUBBY_E_PERMISSION, "handle was not opened for writing",
		    NULL, NULL);
	if (n->parent == NULL)
		return res_fail(res, CHUBBY_E_PERMISSION, "the cell's root cannot be deleted",
		    NULL, NULL);
	if (n->nchildren > 0)
		return res_fail(res, CHUBBY_E_NOT_EMPTY, "directory ", n->path, " is not empty");
	node_delete(ns, n, res);
	return CHUBBY_OK;
}

static int
cmd_acquire(struct ns *ns, const struct ns_cmd *c, uint64_t stamp, struct ns_result *res)
{
	struct ns_handle *h;
	struct ns_node *n;
	size_t i;
	int rc;

	if ((rc = handle_get(ns, c->session, c->handle, HC_ALL, res, &h)) != CHUBBY_OK)
		return rc;
	n = h->node;
	if (c->mode != NS_LOCK_SHARED && c->mode != NS_LOCK_EXCLUSIVE)
		return res_fail(res, CHUBBY_E_INVALID,
		    "lock mode must be shared (1) or exclusive (2)", NULL, NULL);
	/* Chubby §2.4: locking needs write permission, so that an
	 * unprivileged reader cannot stop a writer. */
	if (!(h->flags & NS_O_WRITE))
		return res_fail(res, CHUBBY_E_PERMISSION, "handle was not opened for writing",
		    NULL, NULL);
	if ((uint64_t)h->held == c->mode) {
		res->lock_gen = n->lock_gen;
		return CHUBBY_OK; /* a re-proposed Acquire that already won */
	}
	if (h->held != NS_LOCK_NONE)
		return res_fail(res, CHUBBY_E_BUSY,
		    "the handle holds the lock in the other mode: release it first", NULL, NULL);
	if (n->lock_mode == NS_LOCK_EXCLUSIVE ||
	    (n->lock_mode == NS_LOCK_SHARED && c->mode == NS_LOCK_EXCLUSIVE)) {
		for (i = 0; i < n->nhandles; i++) {
			struct ns_handle *o = n->handles[i];

			if (o->held != NS_LOCK_NONE && (o->event_mask & NS_EV_CONFLICTING_LOCK) &&
			    !o->poisoned)
				ev_add(res, o, NS_EV_CONFLICTING_LOCK, n->path);
			else if (o->held != NS_LOCK_NONE && (o->id & NS_MEM_ID_BIT))
				/* Perhaps a holder kept in memory, whose mask
				 * the namespace does not hold. */
				ev_nodeev(res, n, NS_EV_CONFLICTING_LOCK, n->path, o->session,
				    o->id);
		}
		return res_fail(res, CHUBBY_E_BUSY, "lock ", n->path, " is held");
	}
	if (stamp < n->delay_until_ms) {
		res->delay_until_ms = n->delay_until_ms;
		ns_msg_u64(res->msg, sizeof res->msg,
		    "lock-delay after a holder's session expired lasts until ", n->delay_until_ms,
		    " ms");
		return res->status = CHUBBY_E_LOCK_DELAY;
	}
	if (n->lock_mode == NS_LOCK_NONE)
		n->lock_gen++;
	n->lock_mode = (int)c->mode;
	n->nholders++;
	n->delay_until_ms = 0;
	h->held = (int)c->mode;
	res->lock_gen = n->lock_gen;
	ev_node(res, n, NS_EV_LOCK_ACQUIRED, n->path);
	ns_fill_stat(n, &res->stat);
	return CHUBBY_OK;
}

static int
cmd_release(struct ns *ns, const struct ns_cmd *c, uint64_t stamp, struct ns_result *res)
{
	struct ns_handle *h;
	int rc;

	if ((rc = handle_get(ns, c->session, c->handle, HC_NODE | HC_POISON, res, &h)) !=
	    CHUBBY_OK)
		return rc;
	if (h->held == NS_LOCK_NONE)
		return res_fail(res, CHUBBY_E_NOT_HELD, "the handle does not hold lock ", h->path,
		    NULL);
	lock_drop(h, false, stamp, res);
	return CHUBBY_OK;
}

static int
cmd_set_sequencer(struct ns *ns, const struct ns_cmd *c, struct ns_result *res)
{
	struct ns_handle *h;
	int rc;

	if ((rc = handle_get(ns, c->session, c->handle, HC_NODE | HC_POISON, res, &h)) !=
	    CHUBBY_OK)
		return rc;
	if (c->have_seq) {
		if ((rc = ns_path_check(ns, c->seqpath, c->seqlen, res->msg, sizeof res->msg)) !=
		    CHUBBY_OK)
			return res->status = rc;
		if (!seq_current(ns, c->seqpath, c->seqlen, c->seqmode, c->seqgen, c->seqinst))
			return res_fail(res, CHUBBY_E_STALE_SEQUENCER, "sequencer is not current",
			    NULL, NULL);
	}
	free(h->seq.path);
	memset(&h->seq, 0, sizeof h->seq);
	h->has_seq = c->have_seq;
	if (c->have_seq) {
		h->seq.path = ns_strndup(c->seqpath, c->seqlen);
		h->seq.mode = (int)c->seqmode;
		h->seq.lock_gen = c->seqgen;
		h->seq.instance = c->seqinst;
	}
	return CHUBBY_OK;
}

/* The commands a handle kept in memory may run (NS_CMD_MEM). */
static bool
mem_inner_ok(int type)
{
	switch (type) {
	case NS_CMD_SET_CONTENTS:
	case NS_CMD_DELETE:
	case NS_CMD_SET_ACL:
	case NS_CMD_ACQUIRE:
	case NS_CMD_RELEASE:
	case NS_CMD_SET_SEQUENCER:
	case NS_CMD_POISON:
	case NS_CMD_CLOSE:
		return true;
	default:
		return false;
	}
}

/*
 * The handle a MEM command names, made from what it carries if the
 * namespace does not hold it, after the checks cmd_open makes of an
 * existing node: the master checked them against its applied state, but
 * the state may have moved on since (the node deleted and made again, an
 * ACL changed), and every replica must decide alike.  *MADE says it was.
 */
static int
mem_handle_get(struct ns *ns, const struct ns_cmd *c, struct ns_result *res, bool *made)
{
	struct ns_session *s = ns_session_live(ns, c->session);
	struct ns_handle *h;
	struct ns_node *n;
	int i;

	*made = false;
	if (c->session == 0 || s == NULL)
		return res_fail(res, CHUBBY_E_BAD_SESSION, "no such session", NULL, NULL);
	if (!(c->handle & NS_MEM_ID_BIT) || (c->flags & ~(uint64_t)(NS_O_READ | NS_O_WRITE)) != 0)
		return res_fail(res, CHUBBY_E_INVALID,
		    "a handle in memory has bit 63 of its id set and only read and write intents",
		    NULL, NULL);
	if ((h = ns_handle_find(ns, c->handle)) != NULL)
		return h->session == c->session ? CHUBBY_OK :
		    res_fail(res, CHUBBY_E_BAD_HANDLE, "no such handle in this session", NULL, NULL);
	n = ns_node_find(ns, c->str, c->slen, NULL);
	if (n == NULL || n->instance != c->instance) {
		char *p = ns_strndup(c->str, c->slen);

		res_fail(res, CHUBBY_E_BAD_HANDLE, "node ", p, " was deleted since the handle was opened");
		free(p);
		return CHUBBY_E_BAD_HANDLE;
	}
	/* An open holds an ephemeral node: its handles are all replicated. */
	if (n->ephemeral)
		return res_fail(res, CHUBBY_E_INVALID, "node ", n->path,
		    " is ephemeral: its handles are not kept in memory");
	for (i = NS_ACL_READ; i <= NS_ACL_WRITE; i++)
		if ((c->flags & (i == NS_ACL_READ ? NS_O_READ : NS_O_WRITE)) &&
		    !acl_allows(ns, s->principal, n->acl[i]))
			return res_fail(res, CHUBBY_E_PERMISSION, "no ", acl_word[i],
			    " permission on that node");
	if (s->nhandles >= ns->max_handles)
		return res_fail(res, CHUBBY_E_LIMIT, "too many handles in this session", NULL,
		    NULL);
	h = xcalloc(1, sizeof *h);
	h->id = c->handle;
	h->session = s->id;
	h->path = xstrdup(n->path);
	h->node = n;
	h->instance = n->instance;
	h->flags = (uint32_t)c->flags;
	h->lock_delay_ms = ns->lock_delay_default_ms;
	h->poisoned = c->poisoned;
	handles_insert(ns, h);
	ns_node_add_handle(n, h);
	s->nhandles++;
	*made = true;
	return CHUBBY_OK;
}

/*
 * MEM: INNER on a handle the master keeps in memory (ns_encode_mem).  The
 * namespace holds such a handle only while the log must: a lock or a
 * sequencer on it (a holder's session ending frees the lock, and a new
 * master finds the holder).  Otherwise it goes again when INNER is done,
 * whatever INNER's outcome, so that a write leaves nothing behind.
 */
static int
cmd_mem(struct ns *ns, const struct ns_cmd *c, uint64_t stamp, struct ns_result *res)
{
	struct ns_handle *h;
	struct ns_cmd in;
	bool made;
	int rc;

	if (c->inner != NULL) {
		if ((rc = ns_cmd_decode(c->inner, c->ilen, &in, res->msg, sizeof res->msg)) !=
		    CHUBBY_OK)
			return rc;
		if (!mem_inner_ok(in.type) || in.session != c->session || in.handle != c->handle)
			return res_fail(res, CHUBBY_E_INVALID,
			    "a command on a handle in memory is one of the session's on that handle",
			    NULL, NULL);
	}
	if ((rc = mem_handle_get(ns, c, res, &made)) != CHUBBY_OK)
		return rc;
	if (c->inner == NULL) {
		res->handle = c->handle;
		return CHUBBY_OK;
	}
	rc = ns_apply_cmd(ns, &in, res);
	h = ns_handle_find(ns, c->handle); /* a CLOSE may have freed it */
	if (h != NULL && h->held == NS_LOCK_NONE && !h->has_seq)
		handle_close(ns, h, false, stamp, res);
	return res->status = rc;
}

int
ns_apply(struct ns *ns, const uint8_t *cmd, size_t len, struct ns_result *res)
{
	struct ns_cmd c;
	int rc;

	ns_result_free(res);
	if ((rc = ns_cmd_decode(cmd, len, &c, res->msg, sizeof res->msg)) != CHUBBY_OK)
		return res->status = rc;
	if (c.type == NS_CMD_REQ)
		return res->status = ns_apply_req(ns, &c, res);
	return ns_apply_cmd(ns, &c, res);
}

int
ns_apply_cmd(struct ns *ns, const struct ns_cmd *cp, struct ns_result *res)
{
	const struct ns_cmd c = *cp;
	uint64_t stamp;
	int rc;

	/* Stamps should not go back, but a new master's clock may lag the
	 * old one's: clamping keeps time monotonic, the same on every replica. */
	stamp = c.stamp > ns->last_stamp ? c.stamp : ns->last_stamp;
	switch (c.type) {
	case NS_CMD_SESSION_START:
		rc = cmd_session_start(ns, &c, res);
		break;
	case NS_CMD_SESSION_END:
		rc = cmd_session_end(ns, &c, stamp, res);
		break;
	case NS_CMD_OPEN:
		rc = cmd_open(ns, &c, stamp, res);
		break;
	case NS_CMD_CLOSE:
		rc = cmd_close(ns, &c, stamp, res);
		break;
	case NS_CMD_POISON:
		rc = cmd_poison(ns, &c, res);
		break;
	case NS_CMD_SET_CONTENTS:
		rc = cmd_set_contents(ns, &c, stamp, res);
		break;
	case NS_CMD_SET_ACL:
		rc = cmd_set_acl(ns, &c, stamp, res);
		break;
	case NS_CMD_DELETE:
		rc = cmd_delete(ns, &c, res);
		break;
	case NS_CMD_ACQUIRE:
		rc = cmd_acquire(ns, &c, stamp, res);
		break;
	case NS_CMD_RELEASE:
		rc = cmd_release(ns, &c, stamp, res);
		break;
	case NS_CMD_SET_SEQUENCER:
		rc = cmd_set_sequencer(ns, &c, res);
		break;
	case NS_CMD_INIT_ACLS:
		rc = cmd_init_acls(ns, &c, stamp, res);
		break;
	case NS_CMD_LEASE_CAP:
		rc = cmd_lease_cap(ns, &c, res);
		break;
	case NS_CMD_MEM:
		rc = cmd_mem(ns, &c, stamp, res);
		break;
	case NS_CMD_CLIENT_END:
		rc = cmd_client_end(ns, &c, stamp, res);
		break;
	case NS_CMD_CLAIM:
		rc = cmd_claim(ns, &c, res);
		break;
	default:
		rc = res_fail(res, CHUBBY_E_BAD_OP, "unknown command type", NULL, NULL);
		break;
	}
	res->status = rc;
	if (rc == CHUBBY_OK)
		ns->last_stamp = stamp;
	return rc;
}

/* --- queries --- */

static int
node_contents(const struct ns_node *n, struct ns_result *res)
{
	if (n->is_dir)
		return res_fail(res, CHUBBY_E_IS_DIR, n->path, " is a directory", NULL);
	ns_fill_stat(n, &res->stat);
	res->contents = n->contents;
	res->contents_len = n->len;
	return CHUBBY_OK;
}

static int
node_readdir(const struct ns *ns, const struct ns_node *n, struct ns_result *res)
{
	struct ns_node *c;
	size_t pos, i, k = 0;

	if (!n->is_dir)
		return res_fail(res, CHUBBY_E_NOT_DIR, n->path, " is not a directory", NULL);
	res->names = xcalloc(n->nchildren + 1, sizeof *res->names);
	(void)ns_node_find(ns, n->path, n->pathlen, &pos);
	/* Descendants follow their ancestor contiguously (ns_path_cmp). */
	for (i = pos + 1; i < ns->nnodes && k < n->nchildren; i++) {
		c = ns->nodes[i];
		if (c->parent == n)
			res->names[k++] = xstrdup(c->path + n->pathlen + 1);
	}
	res->nnames = k;
	ns_fill_stat(n, &res->stat);
	return CHUBBY_OK;
}

/* The node a handle kept outside the namespace names: PATH while it is
 * instance INSTANCE (0: any), with the refusal a deleted node's handle
 * gets (handle_get) otherwise. */
static int
path_node(const struct ns *ns, const char *path, uint64_t instance, struct ns_result *res,
    const struct ns_node **out)
{
	const struct ns_node *n = path != NULL ? ns_node_find(ns, path, strlen(path), NULL) : NULL;

	if (n == NULL || (instance != 0 && n->instance != instance))
		return res_fail(res, instance != 0 ? CHUBBY_E_BAD_HANDLE : CHUBBY_E_NOT_FOUND,
		    instance != 0 ? "node " : "no such node", instance != 0 ? path : NULL,
		    instance != 0 ? " was deleted since the handle was opened" : NULL);
	*out = n;
	return CHUBBY_OK;
}

int
ns_path_stat(const struct ns *ns, const char *path, uint64_t instance, struct ns_result *res)
{
	const struct ns_node *n;
	int rc;

	ns_result_free(res);
	if ((rc = path_node(ns, path, instance, res, &n)) != CHUBBY_OK)
		return rc;
	ns_fill_stat(n, &res->stat);
	return CHUBBY_OK;
}

int
ns_path_contents_and_stat(const struct ns *ns, const char *path, uint64_t instance,
    struct ns_result *res)
{
	const struct ns_node *n;
	int rc;

	ns_result_free(res);
	if ((rc = path_node(ns, path, instance, res, &n)) != CHUBBY_OK)
		return rc;
	return node_contents(n, res);
}

int
ns_path_readdir(const struct ns *ns, const char *path, uint64_t instance, struct ns_result *res)
{
	const struct ns_node *n;
	int rc;

	ns_result_free(res);
	if ((rc = path_node(ns, path, instance, res, &n)) != CHUBBY_OK)
		return rc;
	return node_readdir(ns, n, res);
}

int
ns_get_contents_and_stat(const struct ns *ns, uint64_t session, uint64_t handle,
    struct ns_result *res)
{
	struct ns_handle *h;
	int rc;

	ns_result_free(res);
	if ((rc = handle_get(ns, session, handle, HC_ALL, res, &h)) != CHUBBY_OK)
		return rc;
	if (!(h->flags & NS_O_READ))
		return res_fail(res, CHUBBY_E_PERMISSION, "handle was not opened for reading",
		    NULL, NULL);
	return node_contents(h->node, res);
}

int
ns_get_stat(const struct ns *ns, uint64_t session, uint64_t handle, struct ns_result *res)
{
	struct ns_handle *h;
	int rc;

	ns_result_free(res);
	if ((rc = handle_get(ns, session, handle, HC_ALL, res, &h)) != CHUBBY_OK)
		return rc;
	ns_fill_stat(h->node, &res->stat);
	return CHUBBY_OK;
}

int
ns_readdir(const struct ns *ns, uint64_t session, uint64_t handle, struct ns_result *res)
{
	struct ns_handle *h;
	int rc;

	ns_result_free(res);
	if ((rc = handle_get(ns, session, handle, HC_ALL, res, &h)) != CHUBBY_OK)
		return rc;
	if (!(h->flags & NS_O_READ))
		return res_fail(res, CHUBBY_E_PERMISSION, "handle was not opened for reading",
		    NULL, NULL);
	return node_readdir(ns, h->node, res);
}

int
ns_get_sequencer(const struct ns *ns, uint64_t session, uint64_t handle, struct ns_result *res)
{
	struct ns_handle *h;
	int rc;

	ns_result_free(res);
	if ((rc = handle_get(ns, session, handle, HC_ALL, res, &h)) != CHUBBY_OK)
		return rc;
	if (h->held == NS_LOCK_NONE)
		return res_fail(res, CHUBBY_E_NOT_HELD, "the handle does not hold lock ", h->path,
		    NULL);
	res->seq.path = xstrdup(h->node->path);
	res->seq.mode = h->held;
	res->seq.lock_gen = h->node->lock_gen;
	res->seq.instance = h->node->instance;
	return CHUBBY_OK;
}

int
ns_check_sequencer(const struct ns *ns, const char *path, int mode, uint64_t lock_gen,
    uint64_t instance)
{
	if (path == NULL || mode < 0)
		return CHUBBY_E_STALE_SEQUENCER;
	return seq_current(ns, path, strlen(path), (uint64_t)mode, lock_gen, instance) ?
	    CHUBBY_OK : CHUBBY_E_STALE_SEQUENCER;
}

int
ns_check_access(const struct ns *ns, const char *principal, const char *path, int which)
{
	const struct ns_node *n;
	char msg[64];

	if (principal == NULL || path == NULL || which < 0 || which > 2)
		return CHUBBY_E_INVALID;
	if (ns_path_check(ns, path, strlen(path), msg, sizeof msg) != CHUBBY_OK)
		return CHUBBY_E_BAD_NAME;
	if ((n = ns_node_find(ns, path, strlen(path), NULL)) == NULL)
		return CHUBBY_E_NOT_FOUND;
	return acl_allows(ns, principal, n->acl[which]) ? CHUBBY_OK : CHUBBY_E_PERMISSION;
}

uint64_t
ns_lease_cap(const struct ns *ns)
{
	return ns->lease_cap_ms;
}

uint64_t
ns_last_stamp(const struct ns *ns)
{
	return ns->last_stamp;
}

size_t
ns_session_count(const struct ns *ns)
{
	return ns->nsessions;
}

uint64_t
ns_session_id(const struct ns *ns, size_t i)
{
	return i < ns->nsessions ? ns->sessions[i]->id : 0;
}

size_t
ns_session_pos_after(const struct ns *ns, uint64_t after)
{
	struct ns_session *s;
	size_t pos;

	ID_FIND(ns->sessions, ns->nsessions, after, s, pos);
	return s != NULL ? pos + 1 : pos;
}

size_t
ns_handle_count(const struct ns *ns)
{
	return ns->nhandles;
}

size_t
ns_handle_pos_after(const struct ns *ns, uint64_t after)
{
	struct ns_handle *h;
	size_t pos;

	ID_FIND(ns->handles, ns->nhandles, after, h, pos);
	return h != NULL ? pos + 1 : pos;
}

uint64_t
ns_handle_at(const struct ns *ns, size_t i, uint64_t *session, const char **path, int *held)
{
	const struct ns_handle *h = i < ns->nhandles ? ns->handles[i] : NULL;

	if (session != NULL)
		*session = h != NULL ? h->session : 0;
	if (path != NULL)
		*path = h != NULL ? h->path : NULL;
	if (held != NULL)
		*held = h != NULL ? h->held : 0;
	return h != NULL ? h->id : 0;
}

const char *
ns_session_principal(const struct ns *ns, uint64_t session)
{
	const struct ns_session *s = ns_session_find(ns, session);

	return s != NULL ? s->principal : NULL;
}

size_t
ns_node_count(const struct ns *ns)
{
	return ns->nnodes;
}

const char *
ns_handle_path(const struct ns *ns, uint64_t session, uint64_t handle, int *held)
{
	const struct ns_handle *h = ns_handle_find(ns, handle);

	if (h == NULL || h->session != session)
		return NULL;
	if (held != NULL)
		*held = h->held;
	return h->path;
}

bool
ns_handle_node(const struct ns *ns, uint64_t session, uint64_t handle, bool *ephemeral_file,
    size_t *nhandles)
{
	const struct ns_handle *h = ns_handle_find(ns, handle);

	if (h == NULL || h->session != session || h->node == NULL)
		return false;
	*ephemeral_file = h->node->ephemeral && !h->node->is_dir;
	*nhandles = h->node->nhandles;
	return true;
}

bool
ns_handle_frees_record(const struct ns *ns, uint64_t session, uint64_t handle)
{
	const struct ns_handle *h = ns_handle_find(ns, handle);

	return h != NULL && h->session == session && frees_record(h);
}

size_t
ns_session_handles(const struct ns *ns, uint64_t session, uint64_t *ids, size_t max)
{
	const struct ns_session *s = ns_session_find(ns, session);
	size_t n = 0;

	/* The walk stops at the session's last handle (the master asks at
	 * every session end: nothing to walk for a session without handles). */
	for (size_t i = 0; s != NULL && i < ns->nhandles && n < s->nhandles; i++) {
		if (ns->handles[i]->session != session)
			continue;
		if (n < max && ids != NULL)
			ids[n] = ns->handles[i]->id;
		n++;
	}
	return n;
}

size_t
ns_locks_held(const struct ns *ns)
{
	size_t n = 0;

	for (size_t i = 0; i < ns->nnodes; i++)
		n += ns->nodes[i]->lock_mode != NS_LOCK_NONE;
	return n;
}

/* --- proxies (docs/NAMESPACE.md "Proxies") --- */

bool
ns_session_is_proxy(const struct ns *ns, uint64_t session)
{
	const struct ns_session *s = ns_session_find(ns, session);

	return s != NULL && s->proxy;
}

bool
ns_session_orphaned(const struct ns *ns, uint64_t session)
{
	const struct ns_session *s = ns_session_find(ns, session);

	return s != NULL && s->orphaned;
}

size_t
ns_client_handles(const struct ns *ns, uint64_t session, uint64_t client, uint64_t *ids,
    size_t max)
{
	const struct ns_session *s = ns_session_find(ns, session);
	size_t n = 0, seen = 0;

	for (size_t i = 0; s != NULL && client != 0 && i < ns->nhandles && seen < s->nhandles;
	     i++) {
		const struct ns_handle *h = ns->handles[i];

		if (h->session != session)
			continue;
		seen++;
		if (h->client != client)
			continue;
		if (n < max && ids != NULL)
			ids[n] = h->id;
		n++;
	}
	return n;
}

int
ns_handle_info(const struct ns *ns, uint64_t session, uint64_t handle,
    struct ns_handle_info *out)
{
	const struct ns_handle *h = ns_handle_find(ns, handle);

	if (h == NULL || h->session != session)
		return CHUBBY_E_BAD_HANDLE;
	out->path = h->path;
	out->flags = h->flags;
	out->events = h->event_mask;
	out->instance = h->instance;
	out->lock_mode = h->held;
	out->poisoned = h->poisoned;
	out->client = h->client;
	return CHUBBY_OK;
}
