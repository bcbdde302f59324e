/* lasterr.c: the per-thread last error message behind chubby_last_error(). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include <chubby/chubby.h>

#include "lasterr.h"

/* Thread-local, so no locking; each thread gets its own zeroed copy. */
static _Thread_local char lasterr_msg[LASTERR_MAX];
static _Thread_local int lasterr_code;

void
lasterr_set(int status, const char *fmt, ...)
{
	va_list ap;

	lasterr_code = status;
	if (fmt == NULL || fmt[0] == '\0') {
		snprintf(lasterr_msg, sizeof lasterr_msg, "%s", chubby_strerror(status));
		return;
	}
	va_start(ap, fmt);
	vsnprintf(lasterr_msg, sizeof lasterr_msg, fmt, ap);
	va_end(ap);
}

void
lasterr_clear(void)
{
	lasterr_msg[0] = '\0';
	lasterr_code = CHUBBY_OK;
}

int
lasterr_status(void)
{
	return lasterr_code;
}

const char *
chubby_last_error(void)
{
	return lasterr_msg;
}
