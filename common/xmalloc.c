/* xmalloc.c: allocation helpers that abort on out-of-memory (daemons and tools only). */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

static void
xmalloc_fail(size_t n)
{
	fprintf(stderr, "fatal: out of memory allocating %zu bytes\n", n);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);
	if (p == NULL)
		xmalloc_fail(n);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
	if (p == NULL)
		xmalloc_fail(n * size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n == 0 ? 1 : n);
	if (q == NULL)
		xmalloc_fail(n);
	return q;
}

char *
xstrdup(const char *s)
{
	return xmemdup(s, strlen(s) + 1);
}

void *
xmemdup(const void *p, size_t n)
{
	void *q = xmalloc(n);
	if (n > 0)
		memcpy(q, p, n);
	return q;
}

int
xasprintf(char **out, const char *fmt, ...)
{
	va_list ap, ap2;
	int n;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	*out = xmalloc((size_t)n + 1);
	vsnprintf(*out, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	return n;
}

char *
xstrndup(const char *s, size_t n)
{
	char *q = xmalloc(n + 1);

	if (n > 0)
		memcpy(q, s, n);
	q[n] = '\0';
	return q;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		xmalloc_fail(SIZE_MAX);
	return xrealloc(p, n * size);
}
