/*
 * test_metrics.c: what /metrics is made of, without a daemon: the latency
 * histogram's buckets (a value on a bound counts in that bound's bucket,
 * Prometheus's "le"), the per-second ring of the status page's chart, the
 * requests counted by op and status with bounded label sets, the text
 * exposition of a histogram and of escaped label values and help, and the
 * parsing of /proc/PID/stat and /proc/stat for the process_* metrics.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "latency.h"
#include "procstat.h"
#include "prom.h"
#include "status/reqstats.h"

static void
test_hist_buckets(void)
{
	struct lat_hist h, g;

	memset(&h, 0, sizeof h);
	lat_hist_observe(&h, 0);        /* le 0.0005 */
	lat_hist_observe(&h, 500);      /* on the bound: le 0.0005 */
	lat_hist_observe(&h, 501);      /* le 0.001 */
	lat_hist_observe(&h, 10000000); /* on the last bound: le 10 */
	lat_hist_observe(&h, 10000001); /* +Inf */
	CU_ASSERT_EQUAL(h.buckets[0], 2);
	CU_ASSERT_EQUAL(h.buckets[1], 1);
	CU_ASSERT_EQUAL(h.buckets[LAT_NBUCKETS - 1], 1);
	CU_ASSERT_EQUAL(h.buckets[LAT_NBUCKETS], 1);
	CU_ASSERT_EQUAL(h.count, 5);
	CU_ASSERT_EQUAL(h.sum_us, 500 + 501 + 10000000 + 10000001);
	CU_ASSERT_EQUAL(lat_bucket_us(0), 500);
	CU_ASSERT_EQUAL(lat_bucket_us(LAT_NBUCKETS - 1), 10000000);
	for (unsigned i = 1; i < LAT_NBUCKETS; i++)
		CU_ASSERT(lat_bucket_us(i) > lat_bucket_us(i - 1));
	/* Folding one histogram into another (the fsync times). */
	memset(&g, 0, sizeof g);
	lat_hist_observe(&g, 700);
	lat_hist_add(&g, &h);
	CU_ASSERT_EQUAL(g.count, 6);
	CU_ASSERT_EQUAL(g.buckets[1], 2);
	CU_ASSERT_EQUAL(g.sum_us, h.sum_us + 700);
}

static void
test_ring(void)
{
	struct lat_ring r;
	struct lat_point pts[LAT_RING_S];
	uint64_t t = 5000000; /* ms */
	size_t n;

	memset(&r, 0, sizeof r);
	CU_ASSERT_EQUAL(lat_ring_read(&r, t, pts), 0);
	lat_ring_note(&r, t, 1000);
	lat_ring_note(&r, t + 999, 3000); /* the same second */
	lat_ring_note(&r, t + 2000, 8000);
	n = lat_ring_read(&r, t + 2500, pts);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(pts[0].sec, t / 1000); /* oldest first */
	CU_ASSERT_EQUAL(pts[0].count, 2);
	CU_ASSERT_EQUAL(pts[0].sum_us, 4000);
	CU_ASSERT_EQUAL(pts[0].max_us, 3000);
	CU_ASSERT_EQUAL(pts[1].sec, t / 1000 + 2);
	CU_ASSERT_EQUAL(pts[1].max_us, 8000);
	/* The first second leaves the window LAT_RING_S seconds on. */
	n = lat_ring_read(&r, t + LAT_RING_S * 1000, pts);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(pts[0].sec, t / 1000 + 2);
	/* A second that takes an old one's slot starts afresh. */
	lat_ring_note(&r, t + LAT_RING_S * 1000, 5);
	n = lat_ring_read(&r, t + LAT_RING_S * 1000, pts);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(pts[1].count, 1);
	CU_ASSERT_EQUAL(pts[1].sum_us, 5);
	/* Long quiet: nothing is left. */
	CU_ASSERT_EQUAL(lat_ring_read(&r, t + 10 * LAT_RING_S * 1000, pts), 0);
	/* Early in the clock's life (second < LAT_RING_S) nothing underflows. */
	memset(&r, 0, sizeof r);
	lat_ring_note(&r, 1500, 42);
	n = lat_ring_read(&r, 2000, pts);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(pts[0].sec, 1);
}

static void
test_reqstats(void)
{
	struct reqstats *s = calloc(1, sizeof *s);
	unsigned open = REQSTATS_NOPS, unk = REQSTATS_NOPS - 1, ok = 0, nf = 0;

	for (unsigned i = 0; i < REQSTATS_NOPS; i++)
		if (strcmp(reqstats_op_name(i), "OPEN") == 0)
			open = i;
	for (unsigned j = 0; j < REQSTATS_NSTATUS; j++) {
		if (strcmp(reqstats_status_name(j), "OK") == 0)
			ok = j;
		if (strcmp(reqstats_status_name(j), "E_NOT_FOUND") == 0)
			nf = j;
	}
	CU_ASSERT_FATAL(open < REQSTATS_NOPS && nf != 0);
	CU_ASSERT_STRING_EQUAL(reqstats_op_name(unk), "UNKNOWN");
	CU_ASSERT_STRING_EQUAL(reqstats_status_name(REQSTATS_NSTATUS - 1), "E_UNKNOWN");
	reqstats_note(s, PROTO_OP_OPEN, CHUBBY_OK, 300);
	reqstats_note(s, PROTO_OP_OPEN, CHUBBY_OK, 2000);
	reqstats_note(s, PROTO_OP_OPEN, CHUBBY_E_NOT_FOUND, 100);
	/* An op or status outside the tables is one bounded label each. */
	reqstats_note(s, 9999, CHUBBY_E_BAD_OP, 1);
	reqstats_note(s, 9998, 12345, 1);
	CU_ASSERT_EQUAL(s->n[open][ok], 2);
	CU_ASSERT_EQUAL(s->n[open][nf], 1);
	CU_ASSERT_EQUAL(s->lat[open].count, 3);
	CU_ASSERT_EQUAL(s->lat[open].sum_us, 2400);
	CU_ASSERT_EQUAL(s->lat[unk].count, 2);
	CU_ASSERT_EQUAL(s->n[unk][REQSTATS_NSTATUS - 1], 1);
	CU_ASSERT_EQUAL(reqstats_total(s), 5);
	free(s);
}

static void
test_exposition(void)
{
	struct lat_hist h;
	struct prom p;
	char esc[32];

	memset(&h, 0, sizeof h);
	lat_hist_observe(&h, 400);
	lat_hist_observe(&h, 1500);
	lat_hist_observe(&h, 20000000);
	prom_init(&p);
	prom_head(&p, "x_seconds", "histogram", "Line one\nback\\slash");
	prom_hist(&p, "x_seconds", "op=\"OPEN\"", &h);
	prom_hist(&p, "y_seconds", NULL, &h);
	CU_ASSERT_PTR_NOT_NULL(strstr(p.buf, "# HELP x_seconds Line one\\nback\\\\slash\n"
					     "# TYPE x_seconds histogram\n"));
	/* Cumulative buckets, le in shortest form, labels before le. */
	CU_ASSERT_PTR_NOT_NULL(strstr(p.buf, "x_seconds_bucket{op=\"OPEN\",le=\"0.0005\"} 1\n"
					     "x_seconds_bucket{op=\"OPEN\",le=\"0.001\"} 1\n"
					     "x_seconds_bucket{op=\"OPEN\",le=\"0.0025\"} 2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p.buf, "x_seconds_bucket{op=\"OPEN\",le=\"10\"} 2\n"
					     "x_seconds_bucket{op=\"OPEN\",le=\"+Inf\"} 3\n"
					     "x_seconds_sum{op=\"OPEN\"} 20.001900\n"
					     "x_seconds_count{op=\"OPEN\"} 3\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p.buf, "y_seconds_bucket{le=\"2.5\"} 2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p.buf, "y_seconds_sum 20.001900\ny_seconds_count 3\n"));
	/* Every line ends in a newline and none is empty. */
	CU_ASSERT_EQUAL(p.buf[p.len - 1], '\n');
	CU_ASSERT_PTR_NULL(strstr(p.buf, "\n\n"));
	CU_ASSERT_EQUAL(strlen(p.buf), p.len);
	prom_free(&p);
	/* The buffer grows past its first allocation. */
	prom_init(&p);
	for (int i = 0; i < 1000; i++)
		prom_uint(&p, "n", NULL, (uint64_t)i);
	CU_ASSERT_PTR_NOT_NULL(strstr(p.buf, "n 999\n"));
	CU_ASSERT_EQUAL(strlen(p.buf), p.len);
	prom_free(&p);
	CU_ASSERT_STRING_EQUAL(prom_escape("a\"b\\c\nd", esc, sizeof esc), "a\\\"b\\\\c\\nd");
	/* Cut before an escape that does not fit, never in its middle. */
	CU_ASSERT_STRING_EQUAL(prom_escape("abc\"", esc, 5), "abc");
}

static void
test_procstat_parse(void)
{
	/* A command name with spaces and a ')' (the classic trap). */
	const char *stat = "4242 (chubby d) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 "
			   "250 150 0 0 20 0 5 0 123456 89591808 2655 18446744073709551615 1 1 0 0 "
			   "0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";
	const char *procstat = "cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 99 1 2 3\nctxt 5\n"
			       "btime 1796500000\nprocesses 77\n";
	struct procstat ps;
	uint64_t bt = 0;

	CU_ASSERT_EQUAL(procstat_parse_btime(procstat, &bt), 0);
	CU_ASSERT_EQUAL(bt, 1796500000);
	CU_ASSERT_EQUAL(procstat_parse_btime("cpu 1 2\n", &bt), -1);
	memset(&ps, 0, sizeof ps);
	CU_ASSERT_EQUAL_FATAL(procstat_parse_stat(stat, 100, 4096, bt, &ps), 0);
	CU_ASSERT(fabs(ps.cpu_seconds - 4.0) < 1e-9); /* (250 + 150) / 100 */
	CU_ASSERT_EQUAL(ps.virtual_bytes, 89591808);
	CU_ASSERT_EQUAL(ps.resident_bytes, 2655ull * 4096);
	CU_ASSERT(fabs(ps.start_time - (1796500000 + 1234.56)) < 1e-6);
	CU_ASSERT_EQUAL(procstat_parse_stat("garbage", 100, 4096, bt, &ps), -1);
	CU_ASSERT_EQUAL(procstat_parse_stat("1 (x) S 1 2", 100, 4096, bt, &ps), -1);
	/* And this very process, from /proc. */
	CU_ASSERT_EQUAL_FATAL(procstat_read(&ps), 0);
	CU_ASSERT(ps.resident_bytes > 0 && ps.virtual_bytes >= ps.resident_bytes);
	CU_ASSERT(ps.open_fds >= 3 && ps.open_fds <= ps.max_fds);
	CU_ASSERT(ps.start_time > 1.0e9);
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"latencies land in their buckets (le is inclusive)", test_hist_buckets},
	    {"the per-second ring keeps the last LAT_RING_S seconds", test_ring},
	    {"requests by op and status, bounded labels", test_reqstats},
	    {"the text exposition of histograms, help and labels", test_exposition},
	    {"process_* from /proc/PID/stat and /proc/stat", test_procstat_parse},
	    {NULL, NULL},
	};

	harness_suite("metrics", NULL, NULL, tests);
}
