/*
 * mirror_plan.h: what a mirror writes to make its copy equal the source
 * (server/mirror/mirror.c reads both trees, this decides).  A pure core
 * (docs/STYLE.md "Pure cores", tests/check-pure.sh): no I/O, no clock, no
 * libchubby; tests/unit/test_mirror_plan.c drives it directly.
 */
#ifndef CHUBBY_MIRROR_PLAN_H
#define CHUBBY_MIRROR_PLAN_H

#include <stdbool.h>
#include <stddef.h>

/* A node of a tree as read: REL is its path below the tree's root ("" for
 * the root itself); DATA and LEN a file's contents. */
struct mirror_entry {
	char *rel;
	bool is_dir;
	void *data;
	size_t len;
};

enum mirror_op_kind {
	MIRROR_MKDIR,  /* create the directory PATH if missing */
	MIRROR_WRITE,  /* create the file PATH with DATA, or replace its contents */
	MIRROR_DELETE, /* delete PATH (a file, or a directory emptied by earlier ops) */
};

struct mirror_op {
	enum mirror_op_kind kind;
	char *path;       /* absolute, under TO (or one of TO's ancestors); owned */
	const void *data; /* MIRROR_WRITE: borrowed from the source entries */
	size_t len;
};

/*
 * The writes, in order, that turn the copy LOC (read below TO) into the
 * source SRC: deletes first, children before parents (whatever is in the
 * copy but not in the source, or is a file there and a directory here or
 * the other way round); then, when TO itself is missing, TO's ancestors
 * below /ls/CELL; then creates and updates, parents before children (a
 * file only when its contents differ).  TO itself is kept, empty, when the
 * source has nothing.  Sorts SRC and LOC in place (by REL).  Returns the
 * number of ops in *OPS (malloc'd; free with mirror_ops_free).
 */
size_t mirror_plan(const char *to, struct mirror_entry *src, size_t nsrc,
    struct mirror_entry *loc, size_t nloc, struct mirror_op **ops);
void mirror_ops_free(struct mirror_op *ops, size_t n);

#endif
