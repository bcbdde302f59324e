/* lockctl.h: shared state of lockctl's commands and the command table's shape. */
#ifndef LOCKCTL_H
#define LOCKCTL_H

#include <stdio.h>

#include "cellspec.h"

/* Exit codes (documented in lockctl(1)). */
#define LOCKCTL_EXIT_OK 0
#define LOCKCTL_EXIT_FAIL 1     /* the operation failed (the cell said no) */
#define LOCKCTL_EXIT_USAGE 2    /* bad command line */
#define LOCKCTL_EXIT_UNAVAIL 3  /* the cell could not be reached */

struct lockctl {
	const char *cell_arg; /* -C, or NULL for $CHUBBY_CELL */
	int json;
	unsigned timeout_ms;
	struct cellspec spec;
	int spec_loaded;
};

struct lockctl_cmd {
	const char *name;
	const char *args; /* usage of the arguments */
	int min_args, max_args;
	int (*fn)(struct lockctl *lc, int argc, char **argv);
	const char *help;
};

/* Loads the cell spec once; prints the error and returns non-zero on failure. */
int lockctl_need_cell(struct lockctl *lc);
/* Prints an error as text or as {"ok":false,...}; returns EXIT. */
int lockctl_error(struct lockctl *lc, int exit_code, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

int cmd_status(struct lockctl *lc, int argc, char **argv);
int cmd_master(struct lockctl *lc, int argc, char **argv);
int cmd_sync(struct lockctl *lc, int argc, char **argv);

#endif
