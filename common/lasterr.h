/*
 * lasterr.h: the per-thread "last error" message of libchubby.  Every
 * public call returns a status; one that fails may also leave a message
 * with context here, read back with chubby_last_error() (in
 * <chubby/chubby.h>).  The buffer is thread-local, so threads never see each
 * other's messages and no lock is needed.
 *
 * Convention for public calls: lasterr_clear() on entry, lasterr_set() on
 * each failure, so that after a successful call chubby_last_error() is "".
 */
#ifndef CHUBBY_LASTERR_H
#define CHUBBY_LASTERR_H

/* Size of the per-thread buffer, NUL included; longer messages are cut. */
#define LASTERR_MAX 512

/* Stores a printf-style message for this thread, with STATUS.  A NULL or
 * empty FMT stores chubby_strerror(STATUS) instead. */
void lasterr_set(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Forgets this thread's message (chubby_last_error() then returns ""). */
void lasterr_clear(void);

/* The status given with this thread's last message; CHUBBY_OK if none. */
int lasterr_status(void);

#endif
