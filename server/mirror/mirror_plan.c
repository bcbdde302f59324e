/* mirror_plan.c: the difference between a mirror's source and its copy (mirror_plan.h). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/mirror_plan.h"
#include "xmalloc.h"

struct plan {
	const char *to;
	struct mirror_op *ops;
	size_t n, cap;
};

static int
cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct mirror_entry *)a)->rel, ((const struct mirror_entry *)b)->rel);
}

static const struct mirror_entry *
find_entry(const struct mirror_entry *v, size_t n, const char *rel)
{
	struct mirror_entry key = {.rel = (char *)(uintptr_t)rel};

	return n == 0 ? NULL : bsearch(&key, v, n, sizeof *v, cmp_entry);
}

/* Adds an op on PATH (taken over). */
static void
add(struct plan *p, enum mirror_op_kind kind, char *path, const void *data, size_t len)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 16;
		p->ops = xrealloc(p->ops, p->cap * sizeof *p->ops);
	}
	p->ops[p->n++] = (struct mirror_op){.kind = kind, .path = path, .data = data, .len = len};
}

static void
add_rel(struct plan *p, enum mirror_op_kind kind, const char *rel, const void *data, size_t len)
{
	char *path;

	if (rel[0] == '\0')
		path = xstrdup(p->to);
	else
		xasprintf(&path, "%s/%s", p->to, rel);
	add(p, kind, path, data, len);
}

size_t
mirror_plan(const char *to, struct mirror_entry *src, size_t nsrc, struct mirror_entry *loc,
    size_t nloc, struct mirror_op **ops)
{
	struct plan p = {.to = to};
	bool root_missing;

	/* A parent sorts before its children ("a" < "a/b"), so ascending
	 * order creates parents first and descending deletes children first. */
	if (nsrc > 0)
		qsort(src, nsrc, sizeof *src, cmp_entry);
	if (nloc > 0)
		qsort(loc, nloc, sizeof *loc, cmp_entry);
	root_missing = nloc == 0 || loc[0].rel[0] != '\0';
	for (size_t i = nloc; i-- > 0;) {
		const struct mirror_entry *l = &loc[i], *s = find_entry(src, nsrc, l->rel);
		if (s == NULL && l->rel[0] == '\0')
			continue; /* keep TO itself, empty, while the source has none */
		if (s == NULL || s->is_dir != l->is_dir)
			add_rel(&p, MIRROR_DELETE, l->rel, NULL, 0);
	}
	if (root_missing) {
		/* TO's ancestors below /ls/CELL ("/ls/" + the cell, then each
		 * further "/" ends one). */
		const char *q = strchr(to + 4, '/');

		for (q = q != NULL ? strchr(q + 1, '/') : NULL; q != NULL; q = strchr(q + 1, '/'))
			add(&p, MIRROR_MKDIR, xstrndup(to, (size_t)(q - to)), NULL, 0);
		if (nsrc == 0)
			add_rel(&p, MIRROR_MKDIR, "", NULL, 0);
	}
	for (size_t i = 0; i < nsrc; i++) {
		const struct mirror_entry *s = &src[i], *l = find_entry(loc, nloc, s->rel);
		bool same_kind = l != NULL && l->is_dir == s->is_dir;

		if (s->is_dir) {
			if (!same_kind)
				add_rel(&p, MIRROR_MKDIR, s->rel, NULL, 0);
		} else if (!same_kind || l->len != s->len ||
		           (s->len > 0 && memcmp(l->data, s->data, s->len) != 0)) {
			add_rel(&p, MIRROR_WRITE, s->rel, s->data, s->len);
		}
	}
	*ops = p.ops;
	return p.n;
}

void
mirror_ops_free(struct mirror_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ops[i].path);
	free(ops);
}
