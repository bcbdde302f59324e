/*
 * prom.h: the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/), written
 * into a growing buffer: HELP and TYPE lines, samples with labels, and
 * histograms as _bucket{le}, _sum and _count.  Label values and help text
 * are escaped as the format asks (\\, \" and \n).
 */
#ifndef CHUBBY_PROM_H
#define CHUBBY_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "latency.h"

struct prom {
	char *buf;
	size_t len, cap;
};

void prom_init(struct prom *p);
void prom_free(struct prom *p);
void prom_printf(struct prom *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* # HELP and # TYPE of metric NAME (TYPE: counter, gauge, histogram). */
void prom_head(struct prom *p, const char *name, const char *type, const char *help);
/* One sample; LABELS is NULL or "k=\"v\",..." already escaped. */
void prom_uint(struct prom *p, const char *name, const char *labels, uint64_t v);
void prom_double(struct prom *p, const char *name, const char *labels, double v);
/* HELP, TYPE and the one unlabelled sample of metric NAME. */
void prom_metric(struct prom *p, const char *name, const char *type, const char *help, uint64_t v);
/* The samples of histogram NAME (seconds) with LABELS (or NULL). */
void prom_hist(struct prom *p, const char *name, const char *labels, const struct lat_hist *h);
/* Writes V escaped as a label value into OUT (OUTLEN bytes; a longer
 * value is cut before the escape that does not fit); returns OUT. */
char *prom_escape(const char *v, char *out, size_t outlen);

#endif
