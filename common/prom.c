/* prom.c: the Prometheus text format into a buffer (common/prom.h). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"
#include "xmalloc.h"

void
prom_init(struct prom *p)
{
	p->cap = 4096;
	p->buf = xmalloc(p->cap);
	p->buf[0] = '\0';
	p->len = 0;
}

void
prom_free(struct prom *p)
{
	free(p->buf);
	p->buf = NULL;
	p->len = p->cap = 0;
}

void
prom_printf(struct prom *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < p->cap - p->len)
			break;
		p->cap = (p->cap + (size_t)n + 1) * 2;
		p->buf = xrealloc(p->buf, p->cap);
	}
	p->len += (size_t)n;
}

/* Help text escapes only \\ and \n (the format's rule for HELP). */
void
prom_head(struct prom *p, const char *name, const char *type, const char *help)
{
	prom_printf(p, "# HELP %s ", name);
	for (const char *c = help; *c != '\0'; c++) {
		if (*c == '\\')
			prom_printf(p, "\\\\");
		else if (*c == '\n')
			prom_printf(p, "\\n");
		else
			prom_printf(p, "%c", *c);
	}
	prom_printf(p, "\n# TYPE %s %s\n", name, type);
}

void
prom_uint(struct prom *p, const char *name, const char *labels, uint64_t v)
{
	if (labels != NULL && labels[0] != '\0')
		prom_printf(p, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
	else
		prom_printf(p, "%s %llu\n", name, (unsigned long long)v);
}

void
prom_double(struct prom *p, const char *name, const char *labels, double v)
{
	if (labels != NULL && labels[0] != '\0')
		prom_printf(p, "%s{%s} %.6f\n", name, labels, v);
	else
		prom_printf(p, "%s %.6f\n", name, v);
}

void
prom_hist(struct prom *p, const char *name, const char *labels, const struct lat_hist *h)
{
	const char *sep = labels != NULL && labels[0] != '\0' ? "," : "";
	uint64_t cum = 0;

	if (labels == NULL)
		labels = "";
	/* Buckets are cumulative on the wire; le as Go's client writes it
	 * (shortest form: 0.0005, 2.5, 10). */
	for (unsigned i = 0; i < LAT_NBUCKETS; i++) {
		cum += h->buckets[i];
		prom_printf(p, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
		    (double)lat_bucket_us(i) / 1e6, (unsigned long long)cum);
	}
	prom_printf(p, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
	    (unsigned long long)h->count);
	if (labels[0] != '\0') {
		prom_printf(p, "%s_sum{%s} %.6f\n", name, labels, (double)h->sum_us / 1e6);
		prom_printf(p, "%s_count{%s} %llu\n", name, labels, (unsigned long long)h->count);
	} else {
		prom_printf(p, "%s_sum %.6f\n", name, (double)h->sum_us / 1e6);
		prom_printf(p, "%s_count %llu\n", name, (unsigned long long)h->count);
	}
}

char *
prom_escape(const char *v, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen == 0)
		return out;
	for (; *v != '\0'; v++) {
		const char *e = NULL;
		char one[2] = {*v, '\0'};

		if (*v == '\\')
			e = "\\\\";
		else if (*v == '"')
			e = "\\\"";
		else if (*v == '\n')
			e = "\\n";
		else
			e = one;
		if (o + strlen(e) >= outlen)
			break;
		memcpy(out + o, e, strlen(e));
		o += strlen(e);
	}
	out[o] = '\0';
	return out;
}

void
prom_metric(struct prom *p, const char *name, const char *type, const char *help, uint64_t v)
{
	prom_head(p, name, type, help);
	prom_uint(p, name, NULL, v);
}
