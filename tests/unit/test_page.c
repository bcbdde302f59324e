/*
 * test_page.c: the status page's HTML (server/status/page.c) from a view
 * made here: what comes from the cell (its name, addresses, roles) is
 * escaped in text and attributes alike, every replica has its row with
 * its role, the chart has a point per second that saw commits, placed
 * left to right by age, and the page names nothing from elsewhere.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "status/page.h"

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void
view(struct page_view *v)
{
	memset(v, 0, sizeof *v);
	v->cell = "<script>alert(1)</script>";
	v->version = "1.0 \"q\" & 'a'";
	v->self_id = 2;
	v->master_id = 1;
	v->role = "follower";
	v->epoch = 7;
	v->applied = v->committed = 42;
	v->nreplicas = 3;
	for (unsigned i = 0; i < 3; i++) {
		v->rep[i].id = i + 1;
		v->rep[i].client_addr = "h\"><img src=x onerror=alert(2)>:1";
		v->rep[i].status_addr = "10.0.0.1:8080";
		v->rep[i].role = i == 0 ? "master" : i == 1 ? "follower" : "unknown";
	}
	v->rep[1].self = true;
	v->rep[1].has_pos = true;
	v->rep[1].applied = 42;
}

static void
test_escaping(void)
{
	struct page_view *v = malloc(sizeof *v);
	struct prom o;

	view(v);
	prom_init(&o);
	page_render(&o, v);
	CU_ASSERT_PTR_NULL(strstr(o.buf, "<script>alert"));
	CU_ASSERT_PTR_NOT_NULL(strstr(o.buf, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	CU_ASSERT_PTR_NULL(strstr(o.buf, "<img"));
	CU_ASSERT_PTR_NOT_NULL(strstr(o.buf, "h&quot;&gt;&lt;img src=x onerror=alert(2)&gt;:1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(o.buf, "1.0 &quot;q&quot; &amp; &#39;a&#39;"));
	/* One script element: the page's own, inline. */
	CU_ASSERT_EQUAL(count(o.buf, "<script"), 1);
	/* Nothing to load: no src attribute, no stylesheet link. */
	CU_ASSERT_PTR_NULL(strstr(o.buf, " src=\""));
	CU_ASSERT_PTR_NULL(strstr(o.buf, "stylesheet"));
	prom_free(&o);
	free(v);
}

static void
test_rows_and_chart(void)
{
	struct page_view *v = malloc(sizeof *v);
	struct prom o;
	const char *a, *b;

	view(v);
	prom_init(&o);
	page_render(&o, v);
	CU_ASSERT_EQUAL(count(o.buf, "<tr data-id=") + count(o.buf, "<tr class=\"self\" data-id="),
	    3);
	CU_ASSERT_EQUAL(count(o.buf, "data-role=\"master\""), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(o.buf, "<tr class=\"self\" data-id=\"2\" data-role=\"follower\""));
	/* A follower has no commit latency of its own to show. */
	CU_ASSERT_EQUAL(count(o.buf, "<circle class=\"pt\""), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(o.buf, "commit latency is measured at the master"));
	prom_free(&o);

	v->is_master = true;
	v->now_sec = 1000;
	v->npoints = 2;
	v->points[0] = (struct lat_point){.sec = 950, .count = 2, .sum_us = 3000, .max_us = 2000};
	v->points[1] = (struct lat_point){.sec = 1000, .count = 1, .sum_us = 7000, .max_us = 7000};
	prom_init(&o);
	page_render(&o, v);
	CU_ASSERT_EQUAL(count(o.buf, "<circle class=\"pt\""), 2);
	a = strstr(o.buf, "data-ago=\"50\"");
	b = strstr(o.buf, "data-ago=\"0\"");
	CU_ASSERT(a != NULL && b != NULL && a < b); /* oldest first, left to right */
	CU_ASSERT_PTR_NOT_NULL(strstr(o.buf, "data-ms=\"1.500\" data-max-ms=\"2.000\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(o.buf, "data-ms=\"7.000\" data-max-ms=\"7.000\""));
	/* The scale's top is the next 1-2-5 step above the largest maximum. */
	CU_ASSERT_PTR_NOT_NULL(strstr(o.buf, ">10 ms</text>"));
	/* The newest point sits at the right edge, the oldest 50 s to its left. */
	CU_ASSERT_PTR_NOT_NULL(strstr(o.buf, "cx=\"626.0\""));
	prom_free(&o);
	free(v);
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"what comes from the cell is escaped", test_escaping},
	    {"a row per replica, a point per second with commits", test_rows_and_chart},
	    {NULL, NULL},
	};

	harness_suite("page", NULL, NULL, tests);
}
