/*
 * xmalloc.h: allocation that aborts on out-of-memory.  For chubbyd and the
 * tools only: libchubby must never abort its host, so library code checks
 * malloc's result and returns CHUBBY_E_NOMEM instead.
 */
#ifndef CHUBBY_XMALLOC_H
#define CHUBBY_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
void *xmemdup(const void *p, size_t n);
/* The first N bytes of S, NUL-terminated. */
char *xstrndup(const char *s, size_t n);
/* xrealloc for N elements of SIZE bytes, refusing overflow. */
void *xreallocarray(void *p, size_t n, size_t size);
int xasprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
