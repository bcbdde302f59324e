/* simlib.c: what the deterministic simulators share (simlib.h). */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simlib.h"
#include "xmalloc.h"

/* ---- randomness ------------------------------------------------------- */

static uint64_t
simrng_splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
simrng_seed(struct simrng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = simrng_splitmix(&seed);
}

static uint64_t
simrng_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t
simrng_next(struct simrng *r)
{
	uint64_t *s = r->s, out = simrng_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = simrng_rotl(s[3], 45);
	return out;
}

uint64_t
simrng_below(struct simrng *r, uint64_t n)
{
	return n == 0 ? 0 : simrng_next(r) % n;
}

bool
simrng_chance(struct simrng *r, uint64_t num, uint64_t den)
{
	return simrng_below(r, den) < num;
}

/* ---- the event heap ----------------------------------------------------- */

void
simheap_init(struct simheap *h, size_t size)
{
	memset(h, 0, sizeof *h);
	h->size = size;
	h->tmp = xmalloc(size);
}

void
simheap_free(struct simheap *h)
{
	free(h->v);
	free(h->tmp);
	h->v = h->tmp = NULL;
	h->n = h->cap = 0;
}

static struct simheap_key
simheap_key(const struct simheap *h, size_t i)
{
	struct simheap_key k;

	memcpy(&k, h->v + i * h->size, sizeof k);
	return k;
}

static bool
simheap_before(const struct simheap *h, size_t a, size_t b)
{
	struct simheap_key x = simheap_key(h, a), y = simheap_key(h, b);

	return x.at < y.at || (x.at == y.at && x.seq < y.seq);
}

static void
simheap_swap(struct simheap *h, size_t a, size_t b)
{
	memcpy(h->tmp, h->v + a * h->size, h->size);
	memcpy(h->v + a * h->size, h->v + b * h->size, h->size);
	memcpy(h->v + b * h->size, h->tmp, h->size);
}

void
simheap_push(struct simheap *h, void *ev)
{
	struct simheap_key k;
	size_t i;

	if (h->n == h->cap) {
		h->cap = h->cap == 0 ? 256 : h->cap * 2;
		h->v = xrealloc(h->v, h->cap * h->size);
	}
	memcpy(&k, ev, sizeof k);
	k.seq = h->seq++;
	memcpy(ev, &k, sizeof k);
	i = h->n++;
	memcpy(h->v + i * h->size, ev, h->size);
	while (i > 0 && simheap_before(h, i, (i - 1) / 2)) {
		simheap_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

void
simheap_pop(struct simheap *h, void *out)
{
	size_t i = 0, l, m;

	memcpy(out, h->v, h->size);
	h->n--;
	memcpy(h->v, h->v + h->n * h->size, h->size);
	for (;;) {
		l = 2 * i + 1;
		m = i;
		if (l < h->n && simheap_before(h, l, m))
			m = l;
		if (l + 1 < h->n && simheap_before(h, l + 1, m))
			m = l + 1;
		if (m == i)
			break;
		simheap_swap(h, i, m);
		i = m;
	}
}

uint64_t
simheap_next_at(const struct simheap *h)
{
	return h->n == 0 ? UINT64_MAX : simheap_key(h, 0).at;
}

/* ---- the commands ------------------------------------------------------- */

uint64_t
simcli_num(const char *s, void (*usage)(void))
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);

	if (*s == '\0' || *end != '\0')
		usage();
	return v;
}

void
simcli_range(const char *s, uint64_t *first, uint64_t *last, void (*usage)(void))
{
	const char *dots = strstr(s, "..");
	char buf[64];

	if (dots == NULL || (size_t)(dots - s) >= sizeof buf)
		usage();
	memcpy(buf, s, (size_t)(dots - s));
	buf[dots - s] = '\0';
	*first = simcli_num(buf, usage);
	*last = simcli_num(dots + 2, usage);
}

void
simtrace_format(char *line, size_t size, uint64_t now, const char *fmt, va_list ap)
{
	int n = snprintf(line, size, "%8" PRIu64 " ", now);

	if (n < 0 || (size_t)n >= size)
		return;
	vsnprintf(line + n, size - (size_t)n, fmt, ap);
}

uint64_t
simcli_regress(const char *path, const char *prog, int (*run)(void *arg, const char *line),
    void *arg, uint64_t *runs)
{
	char line[512];
	unsigned lineno = 0;
	uint64_t failures = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		perror(path);
		exit(2);
	}
	while (fgets(line, sizeof line, f) != NULL) {
		int rc;

		lineno++;
		if ((rc = run(arg, line)) == 0)
			continue;
		if (rc < 0) {
			fprintf(stderr, "%s:%u: not %s arguments with --seed\n", path, lineno, prog);
			exit(2);
		}
		(*runs)++;
		failures += rc == 2;
	}
	fclose(f);
	return failures;
}
