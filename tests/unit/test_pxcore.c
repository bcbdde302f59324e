/* test_pxcore.c: chubby-proxy's pure core (server/proxy/pxcore.c): client
 * sessions and leases, events and ev_ack, the read cache and the
 * invalidation relay. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "proxy/pxcore.h"

#define LEASE 12000

static struct pxcore px;

static struct px_up *
up_ok(const char *principal, int64_t now)
{
	struct px_up *up = px_up_get(&px, principal, true);
	px_up_renewed(&px, up, 77, now + 12000, now);
	return up;
}

static size_t
take_acks(struct px_up *up, uint64_t *first)
{
	uint64_t *a;
	size_t n;
	px_up_take_acks(up, &a, &n);
	if (n > 0 && first != NULL)
		*first = a[0];
	free(a);
	return n;
}

/* The lease granted is the shorter of session_lease and what is left of
 * the upstream lease; none while the upstream is in jeopardy. */
static void
test_lease(void)
{
	px_init(&px, LEASE, 5);
	struct px_up *up = up_ok("alice", 1000);
	struct px_client *c = px_client_new(&px, up, 42, 9);

	CU_ASSERT_EQUAL(px_client_grant(&px, c, 1000), LEASE);
	CU_ASSERT_EQUAL(c->lease_end, 1000 + LEASE);
	CU_ASSERT_EQUAL(px_client_grant(&px, c, 10000), 3000); /* upstream until 13000 */
	CU_ASSERT_PTR_EQUAL(px_client_by_nonce(&px, "alice", 9), c);
	CU_ASSERT_PTR_NULL(px_client_by_nonce(&px, "bob", 9));
	CU_ASSERT_PTR_NULL(px_next_expired(&px, 12999));
	px_up_jeopardy(&px, up);
	CU_ASSERT_EQUAL(px_client_grant(&px, c, 11000), 0);
	/* Cut off from the master, the proxy expires nobody. */
	CU_ASSERT_PTR_NULL(px_next_expired(&px, 20000));
	/* The master is back: a held KeepAlive is answered, leases restart. */
	c->ka = &px;
	px_up_renewed(&px, up, 77, 32000, 20000);
	struct px_client **w;
	CU_ASSERT_EQUAL(px_take_wakes(&px, &w), 1);
	CU_ASSERT_EQUAL(c->lease_end, 32000);
	c->ka = NULL;
	CU_ASSERT_PTR_NULL(px_next_expired(&px, 31999));
	CU_ASSERT_PTR_EQUAL(px_next_expired(&px, 32000), c);
	px_client_end(&px, c);
	CU_ASSERT_EQUAL(px.nclients, 0);
	CU_ASSERT_PTR_NULL(px_client_get(&px, 42));
	px_free(&px);
}

/* Events reach the client owning the handle, with rising ids, and stay
 * until an ev_ack covers them. */
static void
test_events(void)
{
	px_init(&px, LEASE, 5);
	struct px_up *up = up_ok("alice", 0);
	struct px_client *a = px_client_new(&px, up, 1, 0);
	struct px_client *b = px_client_new(&px, up, 2, 0);
	struct px_client **w;

	px_handle_add(&px, a, 100, "/ls/c/x", 1);
	px_handle_add(&px, b, 200, "/ls/c/y", 1);
	a->ka = &px;
	px_route_event(&px, up, 7, 1, 100, "/ls/c/x", 3, true);
	px_route_event(&px, up, 8, 1, 100, "/ls/c/x", 4, true);
	px_route_event(&px, up, 9, 1, 999, "/ls/c/z", 0, false); /* nobody's */
	CU_ASSERT_EQUAL(up->ev_ack, 9);
	CU_ASSERT_EQUAL(px_take_wakes(&px, &w), 1);
	CU_ASSERT_PTR_EQUAL(w[0], a);
	CU_ASSERT_EQUAL(a->nev, 2);
	CU_ASSERT_EQUAL(b->nev, 0);
	uint64_t id1 = a->ev[0].id, id2 = a->ev[1].id;
	CU_ASSERT(id2 > id1);
	CU_ASSERT_EQUAL(a->ev[1].gen, 4);
	/* A KeepAlive that has not seen the reply gets them again. */
	CU_ASSERT(px_client_keepalive(&px, a, 0, NULL, 0));
	CU_ASSERT_EQUAL(a->nev, 2);
	CU_ASSERT(px_client_keepalive(&px, a, id1, NULL, 0));
	CU_ASSERT_EQUAL(a->nev, 1);
	CU_ASSERT(!px_client_keepalive(&px, a, id2, NULL, 0));
	/* Handles go with their client. */
	px_client_end(&px, a);
	CU_ASSERT_PTR_NULL(px_handle_get(&px, 100));
	CU_ASSERT_PTR_NOT_NULL(px_handle_get(&px, 200));
	px_free(&px);
}

/* A read is cached for the principal, served to the next reader, and an
 * upstream invalidation goes to every client caching it; the master's is
 * acked only when all of them acked, and meanwhile reads are forwarded. */
static void
test_relay(void)
{
	px_init(&px, LEASE, 5);
	struct px_up *up = up_ok("alice", 0);
	struct px_up *bob = up_ok("bob", 0);
	struct px_client *a = px_client_new(&px, up, 1, 0);
	struct px_client *b = px_client_new(&px, up, 2, 0);
	struct px_client *c = px_client_new(&px, up, 3, 0);
	struct px_client *d = px_client_new(&px, bob, 4, 0);
	const uint8_t v1[] = "one";
	const uint8_t *got;
	size_t len = 0;
	uint64_t ack = 0;

	CU_ASSERT_PTR_NULL(px_cache_lookup(&px, a, "/p", &len));
	uint64_t t = px_read_begin(&px, a, "/p");
	CU_ASSERT(px_read_done(&px, a->up, a, "/p", t, true, v1, sizeof v1));
	got = px_cache_lookup(&px, b, "/p", &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_EQUAL(len, sizeof v1);
	CU_ASSERT(memcmp(got, v1, len) == 0);
	/* Another principal has its own cache: ACLs are checked upstream. */
	CU_ASSERT_PTR_NULL(px_cache_lookup(&px, d, "/p", &len));
	CU_ASSERT_EQUAL(px.st.hits, 1);

	a->ka = &px;
	px_route_inval(&px, up, 55, "/p");
	CU_ASSERT_EQUAL(a->ninv, 1);
	CU_ASSERT_EQUAL(b->ninv, 1);
	CU_ASSERT_EQUAL(c->ninv, 0);
	CU_ASSERT_EQUAL(take_acks(up, NULL), 0);
	/* Pending: not served from the cache, and a forwarded read's answer
	 * is not cacheable even if the master said so. */
	CU_ASSERT_PTR_NULL(px_cache_lookup(&px, c, "/p", &len));
	t = px_read_begin(&px, c, "/p");
	CU_ASSERT(!px_read_done(&px, c->up, c, "/p", t, true, v1, sizeof v1));
	uint64_t rid = a->inv[0].id;
	px_client_keepalive(&px, a, 0, &rid, 1);
	CU_ASSERT_EQUAL(take_acks(up, NULL), 0);
	/* b's lease ends instead of acking: the relay completes. */
	px_client_end(&px, b);
	CU_ASSERT_EQUAL(take_acks(up, &ack), 1);
	CU_ASSERT_EQUAL(ack, 55);
	/* Nobody caches it now: the next invalidation is acked at once. */
	px_route_inval(&px, up, 56, "/p");
	CU_ASSERT_EQUAL(take_acks(up, &ack), 1);
	CU_ASSERT_EQUAL(ack, 56);
	CU_ASSERT_EQUAL(take_acks(bob, NULL), 0);
	px_free(&px);
}

/* An invalidation that arrives while a read is forwarded: its answer
 * may be older than the write, so it is not cached. */
static void
test_read_race(void)
{
	px_init(&px, LEASE, 5);
	struct px_up *up = up_ok("alice", 0);
	struct px_client *a = px_client_new(&px, up, 1, 0);
	const uint8_t v[] = "v";
	size_t len;

	uint64_t t = px_read_begin(&px, a, "/q");
	px_route_inval(&px, up, 9, "/q");
	CU_ASSERT(!px_read_done(&px, a->up, a, "/q", t, true, v, sizeof v));
	CU_ASSERT_PTR_NULL(px_cache_lookup(&px, a, "/q", &len));
	/* The master's cacheable false is obeyed too. */
	t = px_read_begin(&px, a, "/q");
	CU_ASSERT(!px_read_done(&px, a->up, a, "/q", t, false, v, sizeof v));
	CU_ASSERT_EQUAL(px.ncache, 0);
	/* A read whose client ended meanwhile: nothing kept, nothing left. */
	t = px_read_begin(&px, a, "/q");
	struct px_up *up_a = a->up;
	px_client_end(&px, a);
	CU_ASSERT(!px_read_done(&px, up_a, NULL, "/q", t, true, v, sizeof v));
	CU_ASSERT_EQUAL(px.ncache, 0);
	px_free(&px);
}

/* A new master epoch flushes the cache and the relays, changes the epoch
 * clients see, and drops their queued events; two proxy processes show
 * different epochs for the same master. */
static void
test_epoch(void)
{
	struct pxcore other;
	px_init(&other, LEASE, 6);
	px_init(&px, LEASE, 5);
	px_set_master_epoch(&other, 3);
	CU_ASSERT(px_set_master_epoch(&px, 3));
	CU_ASSERT(!px_set_master_epoch(&px, 3));
	CU_ASSERT(px_epoch(&px) != px_epoch(&other));
	uint64_t e3 = px_epoch(&px);
	struct px_up *up = up_ok("alice", 0);
	struct px_client *a = px_client_new(&px, up, 1, 0);
	const uint8_t v[] = "v";
	size_t len;
	uint64_t t = px_read_begin(&px, a, "/r");
	CU_ASSERT(px_read_done(&px, a->up, a, "/r", t, true, v, sizeof v));
	px_handle_add(&px, a, 5, "/r", 1);
	px_route_event(&px, up, 1, 1, 5, "/r", 2, true);
	px_route_inval(&px, up, 2, "/r");
	CU_ASSERT(px_set_master_epoch(&px, 4));
	CU_ASSERT(px_epoch(&px) != e3);
	CU_ASSERT_EQUAL(a->nev, 0);
	CU_ASSERT_EQUAL(a->ninv, 0);
	CU_ASSERT_PTR_NULL(px.relays);
	CU_ASSERT_EQUAL(take_acks(up, NULL), 0);
	CU_ASSERT_PTR_NULL(px_cache_lookup(&px, a, "/r", &len));
	CU_ASSERT_EQUAL(px.ncache, 0);
	/* Handles survive: they are the master's and replicated. */
	CU_ASSERT_PTR_NOT_NULL(px_handle_get(&px, 5));
	/* A client claimed from another proxy of the same master epoch with
	 * a higher incarnation: ours goes above it (libchubby takes only a
	 * higher epoch as news).  One of a newer master: nothing yet. */
	uint64_t mine = px_epoch(&px), theirs = (4ULL << 20) | 0x70000;
	CU_ASSERT(px_epoch_raise(&px, theirs));
	CU_ASSERT(px_epoch(&px) > theirs);
	CU_ASSERT(px_epoch(&px) > mine);
	CU_ASSERT(!px_epoch_raise(&px, theirs));
	CU_ASSERT(!px_epoch_raise(&px, (5ULL << 20) | 1));
	CU_ASSERT(!px_epoch_raise(&px, (4ULL << 20) | 0xfffff));
	px_free(&px);
	px_free(&other);
}

/* A re-sent client request id is sent upstream with the rid of its first
 * sending; ids below the floor are forgotten. */
static void
test_rids(void)
{
	px_init(&px, LEASE, 5);
	struct px_up *up = up_ok("alice", 0);
	struct px_client *a = px_client_new(&px, up, 1, 0);
	struct px_client *b = px_client_new(&px, up, 2, 0);

	uint64_t r1 = px_client_rid(a, 1, 0);
	uint64_t r2 = px_client_rid(b, 1, 0);
	CU_ASSERT(r1 != r2);
	CU_ASSERT_EQUAL(px_client_rid(a, 1, 1), r1);
	CU_ASSERT_EQUAL(px_client_rid(a, 0, 1), 0);
	uint64_t r3 = px_client_rid(a, 2, 2);
	CU_ASSERT(r3 > r2);
	CU_ASSERT_EQUAL(a->nrids, 1);
	px_free(&px);
}

/* Many clients, seeded: the tables grow and every id is found again. */
static void
test_many(void)
{
	uint64_t seed = harness_seed();
	px_init(&px, LEASE, 5);
	struct px_up *up = up_ok("alice", 0);
	for (uint64_t i = 1; i <= 5000; i++) {
		struct px_client *c = px_client_new(&px, up, i * 2654435761u + seed, i);
		px_handle_add(&px, c, i, "/h", 2);
	}
	CU_ASSERT_EQUAL(px.nclients, 5000);
	for (uint64_t i = 1; i <= 5000; i++) {
		struct px_client *c = px_client_get(&px, i * 2654435761u + seed);
		CU_ASSERT_PTR_NOT_NULL_FATAL(c);
		CU_ASSERT_PTR_EQUAL(px_client_by_nonce(&px, "alice", i), c);
		CU_ASSERT_PTR_EQUAL(px_handle_get(&px, i)->client, c);
	}
	px_free(&px);
}

/* The master expired the upstream session (E_SESSION_EXPIRED): the
 * clients are not lost with it, since the master keeps their handles
 * orphaned for the claim window.  They wait, in jeopardy (no lease
 * extended, none expired), to be claimed onto the principal's next
 * upstream session. */
static void
test_up_lost(void)
{
	px_init(&px, LEASE, 5);
	struct px_up *up = up_ok("alice", 0);
	struct px_up *bob = up_ok("bob", 0);
	struct px_client *c = px_client_new(&px, up, 42, 9);
	struct px_client *d = px_client_new(&px, up, 43, 10);
	struct px_client *b = px_client_new(&px, bob, 44, 11);
	struct px_client **w;
	uint64_t *ids;
	size_t n, len;
	CU_ASSERT_EQUAL(px_client_grant(&px, c, 0), LEASE);
	CU_ASSERT_EQUAL(px_client_grant(&px, d, 0), LEASE);
	CU_ASSERT_EQUAL(px_client_grant(&px, b, 0), LEASE);
	px_handle_add(&px, c, 7, "/ls/cell/lock", 2);
	/* c caches /f: the master forgets that with the session. */
	uint64_t tok = px_read_begin(&px, c, "/f");
	CU_ASSERT_TRUE(px_read_done(&px, up, c, "/f", tok, true, (const uint8_t *)"x", 1));
	CU_ASSERT_PTR_NOT_NULL(px_cache_lookup(&px, c, "/f", &len));
	px_route_event(&px, up, 1, 1, 7, "/ls/cell/lock", 0, false);
	CU_ASSERT_EQUAL(c->nev, 1);
	px_up_jeopardy(&px, up);
	px_up_lost(&px, up, &ids, &n);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_TRUE((ids[0] == 42 && ids[1] == 43) || (ids[0] == 43 && ids[1] == 42));
	free(ids);
	CU_ASSERT_FALSE(c->lost);
	CU_ASSERT_TRUE(c->reclaim);
	CU_ASSERT_FALSE(b->reclaim); /* another principal's session */
	CU_ASSERT_EQUAL(c->nev, 0);
	CU_ASSERT_EQUAL(up->session, 0);
	CU_ASSERT_PTR_NULL(px_next_expired(&px, 1000));
	CU_ASSERT_EQUAL(px_client_grant(&px, c, 1000), 0);
	CU_ASSERT_PTR_EQUAL(px_handle_get(&px, 7)->client, c);
	/* The new upstream session is up; the claims are not answered yet:
	 * still no lease, and no expiry although the old lease ran out. */
	c->ka = &px;
	px_up_renewed(&px, up, 78, 30000, 20000);
	CU_ASSERT_PTR_NULL(px_cache_lookup(&px, c, "/f", &len));
	CU_ASSERT_EQUAL(px_take_wakes(&px, &w), 0);
	CU_ASSERT_EQUAL(px_client_grant(&px, c, 20000), 0);
	CU_ASSERT_EQUAL(c->lease_end, LEASE);
	CU_ASSERT_PTR_EQUAL(px_next_expired(&px, 20000), b); /* bob's lease did run out */
	px_client_end(&px, b);
	CU_ASSERT_PTR_NULL(px_next_expired(&px, 20000));
	/* c's claim succeeds: its held KeepAlive is answered, leases again. */
	px_client_claimed(&px, c, true);
	CU_ASSERT_FALSE(c->reclaim);
	CU_ASSERT_EQUAL(px_take_wakes(&px, &w), 1);
	CU_ASSERT_PTR_EQUAL(w[0], c);
	c->ka = NULL;
	CU_ASSERT_EQUAL(px_client_grant(&px, c, 20000), 10000);
	CU_ASSERT_PTR_EQUAL(px_handle_get(&px, 7)->client, c);
	/* d's claim finds nothing (its handles were released): it is ended. */
	px_client_claimed(&px, d, false);
	CU_ASSERT_TRUE(d->lost);
	CU_ASSERT_PTR_EQUAL(px_next_expired(&px, 20000), d);
	px_client_end(&px, d);
	CU_ASSERT_PTR_NULL(px_next_expired(&px, 20000));
	px_free(&px);
}

/* The master refused the new upstream SESSION_START that the claims
 * waited for (the cell is full, or the proxy is no longer allowed): the
 * clients waiting for a claim are lost at once, not held in jeopardy until
 * their grace period ends; other principals' clients are untouched. */
static void
test_up_refused(void)
{
	px_init(&px, LEASE, 5);
	struct px_up *up = up_ok("alice", 0);
	struct px_up *bob = up_ok("bob", 0);
	struct px_client *c = px_client_new(&px, up, 42, 9);
	struct px_client *d = px_client_new(&px, up, 43, 10);
	struct px_client *b = px_client_new(&px, bob, 44, 11);
	uint64_t *ids;
	size_t n;
	CU_ASSERT_EQUAL(px_client_grant(&px, c, 0), LEASE);
	CU_ASSERT_EQUAL(px_client_grant(&px, d, 0), LEASE);
	CU_ASSERT_EQUAL(px_client_grant(&px, b, 0), LEASE);
	px_handle_add(&px, c, 7, "/ls/cell/lock", 2);
	px_up_lost(&px, up, &ids, &n);
	free(ids);
	CU_ASSERT_EQUAL(n, 2);
	/* Nothing to expire yet: they wait for the claim. */
	CU_ASSERT_PTR_NULL(px_next_expired(&px, 1000));
	px_up_refused(&px, up, &ids, &n);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_TRUE((ids[0] == 42 && ids[1] == 43) || (ids[0] == 43 && ids[1] == 42));
	free(ids);
	CU_ASSERT_TRUE(c->lost);
	CU_ASSERT_TRUE(d->lost);
	CU_ASSERT_FALSE(c->reclaim);
	CU_ASSERT_FALSE(b->lost);
	CU_ASSERT_EQUAL(px_client_grant(&px, c, 1000), 0);
	/* Both are ended by the shell at once (nothing is sent upstream). */
	struct px_client *e1 = px_next_expired(&px, 1000);
	CU_ASSERT_TRUE(e1 == c || e1 == d);
	px_client_end(&px, e1);
	struct px_client *e2 = px_next_expired(&px, 1000);
	CU_ASSERT_TRUE((e2 == c || e2 == d) && e2 != e1);
	px_client_end(&px, e2);
	CU_ASSERT_PTR_NULL(px_next_expired(&px, 1000));
	CU_ASSERT_PTR_NULL(px_handle_get(&px, 7));
	CU_ASSERT_EQUAL(px.nclients, 1);
	/* A second refusal finds nobody left to fail. */
	px_up_refused(&px, up, &ids, &n);
	CU_ASSERT_EQUAL(n, 0);
	free(ids);
	px_free(&px);
}

/* A SESSION_END of a client waiting for its claim: ending it at once
 * would let the claim bring its handles back to a session that no longer
 * exists (a record that later ends with a CLIENT_END closing nothing), and
 * a CLIENT_END sent now would close nothing (the handles are orphaned). It
 * is kept, marked ending, until the claim is answered. */
static void
test_end_during_claim(void)
{
	px_init(&px, LEASE, 5);
	struct px_up *up = up_ok("alice", 0);
	struct px_client *c = px_client_new(&px, up, 42, 9);
	struct px_client *d = px_client_new(&px, up, 43, 10);
	uint64_t *ids;
	size_t n;
	CU_ASSERT_EQUAL(px_client_grant(&px, c, 0), LEASE);
	CU_ASSERT_EQUAL(px_client_grant(&px, d, 0), LEASE);
	/* Not waiting for a claim: ended at once. */
	CU_ASSERT_FALSE(px_client_end_wait(&px, c));
	CU_ASSERT_FALSE(c->ending);
	px_handle_add(&px, c, 7, "/ls/cell/lock", 2);
	px_handle_add(&px, d, 8, "/ls/cell/other", 2);
	px_up_lost(&px, up, &ids, &n);
	free(ids);
	CU_ASSERT_TRUE(px_client_end_wait(&px, c));
	CU_ASSERT_TRUE(px_client_end_wait(&px, d));
	CU_ASSERT_PTR_EQUAL(px_client_get(&px, 42), c);
	CU_ASSERT_TRUE(c->ending);
	CU_ASSERT_PTR_NULL(px_next_expired(&px, 20000));
	px_up_renewed(&px, up, 78, 30000, 20000);
	CU_ASSERT_PTR_NULL(px_next_expired(&px, 20000));
	/* c's claim succeeds: its handles are back, so it is ended at the
	 * cell now (CLIENT_END closes them at once). */
	CU_ASSERT_TRUE(px_client_claimed(&px, c, true));
	CU_ASSERT_PTR_EQUAL(px_handle_get(&px, 7)->client, c);
	px_client_end(&px, c);
	/* d's claim finds nothing: lost, nothing to end at the cell. */
	CU_ASSERT_FALSE(px_client_claimed(&px, d, false));
	CU_ASSERT_TRUE(d->lost);
	CU_ASSERT_PTR_EQUAL(px_next_expired(&px, 20000), d);
	px_client_end(&px, d);
	CU_ASSERT_EQUAL(px.nclients, 0);
	CU_ASSERT_PTR_NULL(px_handle_get(&px, 8));
	px_free(&px);
}

/* Leases under load (docs/PROXY.md "Leases under load"): the lease the
 * shell's rule asks for is granted, but never past the upstream lease's end
 * plus the slack the claim window allows (window less grace period, less
 * drift and a margin): a stretched client lease must end while the master
 * still keeps the client's handles orphaned after the upstream session
 * ended, with its grace period left to claim them from another proxy. */
static void
test_lease_stretch(void)
{
	px_init(&px, LEASE, 5);
	struct px_up *up = up_ok("alice", 1000); /* upstream until 13000 */
	struct px_client *c = px_client_new(&px, up, 42, 9);

	/* The slack of the defaults: 60 s window, 45 s grace. */
	CU_ASSERT_EQUAL(px_lease_slack(60000, 45000), 60000 - 60 - 45000 - 45 - 1000);
	CU_ASSERT_EQUAL(px_lease_slack(45000, 45000), 0);
	CU_ASSERT_EQUAL(px_lease_slack(10000, 45000), 0);
	/* No slack: capped at the upstream lease, as before. */
	px_set_lease(&px, 40000, 0);
	CU_ASSERT_EQUAL(px_client_offer(&px, c, 1000), 12000);
	CU_ASSERT_EQUAL(c->lease_end, 0); /* an offer grants nothing */
	CU_ASSERT_EQUAL(px_client_grant(&px, c, 1000), 12000);
	/* A 14 s slack: 26 s from 1000 (upstream left 12 s + 14 s). */
	px_set_lease(&px, 40000, 14000);
	CU_ASSERT_EQUAL(px_client_grant(&px, c, 1000), 26000);
	CU_ASSERT_EQUAL(c->lease_end, 27000);
	/* Later the upstream lease has less left: so has the client. */
	CU_ASSERT_EQUAL(px_client_grant(&px, c, 10000), 17000);
	CU_ASSERT_EQUAL(c->lease_end, 27000); /* never shortened */
	/* The rule asks for less than the bound: granted as asked. */
	px_set_lease(&px, 20000, 14000);
	CU_ASSERT_EQUAL(px_client_grant(&px, c, 1000), 20000);
	/* Not expired before its stretched end (27000), past the upstream
	 * lease's (13000). */
	CU_ASSERT_PTR_NULL(px_next_expired(&px, 26999));
	/* Cut off: nothing granted, stretched or not. */
	px_up_jeopardy(&px, up);
	CU_ASSERT_EQUAL(px_client_offer(&px, c, 11000), 0);
	CU_ASSERT_EQUAL(px_client_grant(&px, c, 11000), 0);
	/* Back: every client of the principal gets the lease the rule asks,
	 * within the bound, from then. */
	px_up_renewed(&px, up, 77, 40000, 30000); /* 10 s left + 14 s */
	CU_ASSERT_EQUAL(c->lease_end, 30000 + 20000);
	px_free(&px);
}

/* A KeepAlive answer read late (the proxy was stopped while it was in
 * flight) brings a lease that ended already: the upstream stays in
 * jeopardy, and no client is expired for it. */
static void
test_stale_renewal(void)
{
	px_init(&px, LEASE, 5);
	struct px_up *up = up_ok("alice", 0);
	struct px_client *c = px_client_new(&px, up, 42, 9);
	CU_ASSERT_EQUAL(px_client_grant(&px, c, 0), LEASE);
	px_up_jeopardy(&px, up);
	px_up_renewed(&px, up, 77, 11000, 20000); /* sent at 0, read at 20000 */
	CU_ASSERT_NOT_EQUAL(up->state, PX_UP_OK);
	CU_ASSERT_PTR_NULL(px_next_expired(&px, 20000));
	CU_ASSERT_EQUAL(px_client_grant(&px, c, 20000), 0);
	px_up_renewed(&px, up, 77, 32000, 20100); /* the next one */
	CU_ASSERT_EQUAL(px_client_grant(&px, c, 20100), 11900);
	px_free(&px);
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"leases follow the upstream lease and jeopardy", test_lease},
	    {"events are routed by handle and kept until ev_ack", test_events},
	    {"invalidations are relayed and acked upstream after every cacher", test_relay},
	    {"a read overtaken by an invalidation is not cached", test_read_race},
	    {"a new master epoch flushes the cache and changes the epoch", test_epoch},
	    {"re-sent request ids keep their upstream rid", test_rids},
	    {"many clients", test_many},
	    {"a lost upstream session holds its clients for a claim", test_up_lost},
	    {"a renewal read after its lease ended keeps the jeopardy", test_stale_renewal},
	    {"a refused upstream SESSION_START fails the clients waiting for a claim",
		test_up_refused},
	    {"a SESSION_END during a claim waits for the claim", test_end_during_claim},
	    {"leases stretch under load within the claim window's slack", test_lease_stretch},
	    {NULL, NULL},
	};

	harness_suite("pxcore", NULL, NULL, tests);
}
