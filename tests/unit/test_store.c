/* test_store.c: the LevelDB adapter: round trips, atomicity, identity, corruption. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chubby/chubby.h>

#include "harness.h"
#include "store/store.h"

static char err[512];

/* A fresh directory for one test, under the harness's temporary directory. */
static const char *
tdir(const char *name)
{
	static char path[512];

	snprintf(path, sizeof path, "%s/%s", harness_tmpdir(), name);
	return path;
}

static uint64_t rng_state;

static uint64_t
rng(void)
{
	if (rng_state == 0)
		rng_state = harness_seed() | 1;
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void
fill_random(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)rng();
}

/* Opens DIR, asserting success. */
static struct store *
open_ok(const char *dir)
{
	struct store *s = NULL;
	int rc = store_open(dir, &s, err, sizeof err);

	if (rc != CHUBBY_OK)
		fprintf(stderr, "store_open %s: %s\n", dir, err);
	CU_ASSERT_EQUAL_FATAL(rc, CHUBBY_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	return s;
}

/* Opens a new store in DIR initialized as replica 1 of cell "test". */
static struct store *
open_init(const char *dir)
{
	struct store *s = open_ok(dir);

	CU_ASSERT_EQUAL_FATAL(store_init(s, "test", 1, true, err, sizeof err), CHUBBY_OK);
	return s;
}

static struct store *
reopen(struct store *s, const char *dir)
{
	store_close(s);
	return open_ok(dir);
}

static void
entry_set(struct paxos_entry *e, uint64_t slot, paxos_ballot b, bool chosen, const void *v,
    size_t len)
{
	e->slot = slot;
	e->ballot = b;
	e->chosen = chosen;
	e->value.data = (uint8_t *)(uintptr_t)v; /* borrowed: persist only reads it */
	e->value.len = len;
}

/* Persists entries FROM..TO with values "v<slot>" in one write. */
static void
persist_range(struct store *s, uint64_t from, uint64_t to, paxos_ballot b, bool chosen)
{
	struct paxos_persist w;
	struct paxos_entry *e;
	char (*vals)[32];
	size_t n = (size_t)(to - from + 1), i;

	memset(&w, 0, sizeof w);
	e = calloc(n, sizeof *e);
	vals = calloc(n, sizeof *vals);
	for (i = 0; i < n; i++) {
		snprintf(vals[i], sizeof vals[i], "v%llu", (unsigned long long)(from + i));
		entry_set(&e[i], from + i, b, chosen, vals[i], strlen(vals[i]));
	}
	w.entries = e;
	w.nentries = n;
	CU_ASSERT_EQUAL(store_persist(s, &w, err, sizeof err), CHUBBY_OK);
	free(vals);
	free(e);
}

/* The entry for SLOT, or an empty one (slot 0) if there is none. */
static const struct paxos_entry *
find_entry(const struct paxos_durable *d, uint64_t slot)
{
	static const struct paxos_entry none;
	size_t i;

	for (i = 0; i < d->nentries; i++)
		if (d->entries[i].slot == slot)
			return &d->entries[i];
	return &none;
}

/* Flips one bit of the stored value of KEY, behind the store's back. */
static void
flip_value(struct store *s, const void *key, size_t klen, size_t at)
{
	void *v;
	size_t vlen;

	CU_ASSERT_EQUAL_FATAL(store_raw_get(s, key, klen, &v, &vlen, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_FATAL(at < vlen);
	((uint8_t *)v)[at] ^= 0x10;
	CU_ASSERT_EQUAL(store_raw_put(s, key, klen, v, vlen, err, sizeof err), CHUBBY_OK);
	free(v);
}

static void
log_key(uint8_t k[9], uint64_t slot)
{
	int i;

	k[0] = 'L';
	for (i = 0; i < 8; i++)
		k[1 + i] = (uint8_t)(slot >> (56 - 8 * i));
}

/* ---- CRC --------------------------------------------------------------- */

static void
test_crc32c(void)
{
	uint8_t zeros[32], ones[32], inc[32];
	int i;

	/* RFC 3720 B.4 test vectors and the usual check value. */
	memset(zeros, 0, sizeof zeros);
	memset(ones, 0xff, sizeof ones);
	for (i = 0; i < 32; i++)
		inc[i] = (uint8_t)i;
	CU_ASSERT_EQUAL(store_crc32c(0, "123456789", 9), 0xe3069283u);
	CU_ASSERT_EQUAL(store_crc32c(0, zeros, 32), 0x8a9136aau);
	CU_ASSERT_EQUAL(store_crc32c(0, ones, 32), 0x62a8ab43u);
	CU_ASSERT_EQUAL(store_crc32c(0, inc, 32), 0x46dd794eu);
	/* Continuing a CRC equals computing it in one go. */
	CU_ASSERT_EQUAL(store_crc32c(store_crc32c(0, "12345", 5), "6789", 4), 0xe3069283u);
	CU_ASSERT_EQUAL(store_crc32c(0, NULL, 0), 0);
}

/* ---- open, identity ---------------------------------------------------- */

static void
test_open_empty(void)
{
	struct store *s = open_ok(tdir("empty"));
	struct store_identity id;
	struct paxos_durable d;
	struct store_stats st;

	store_identity(s, &id);
	CU_ASSERT_FALSE(id.initialized);
	CU_ASSERT_EQUAL(store_check_identity(s, "test", 1, err, sizeof err), CHUBBY_E_NOT_FOUND);
	CU_ASSERT_EQUAL(store_verify(s, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(d.promised, 0);
	CU_ASSERT_FALSE(d.nonvoter);
	CU_ASSERT_EQUAL(d.snap_index, 0);
	CU_ASSERT_EQUAL(d.nentries, 0);
	CU_ASSERT_EQUAL(d.applied, 0);
	store_paxos_durable_free(&d);
	store_stats(s, &st);
	CU_ASSERT_EQUAL(st.log_entries, 0);
	CU_ASSERT_EQUAL(store_sm_applied(s), 0);
	store_close(s);
	store_close(NULL);
}

static void
test_identity(void)
{
	const char *dir = tdir("identity");
	struct store *s = open_ok(dir);
	struct store_identity id;
	char longname[STORE_CELL_MAX + 2];

	memset(longname, 'x', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	CU_ASSERT_EQUAL(store_init(s, "", 1, true, err, sizeof err), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(store_init(s, longname, 1, true, err, sizeof err), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(store_init(s, "alpha", 0, true, err, sizeof err), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(store_init(s, "alpha", 256, true, err, sizeof err), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(store_init(s, "alpha", 3, true, err, sizeof err), CHUBBY_OK);

	s = reopen(s, dir);
	store_identity(s, &id);
	CU_ASSERT_TRUE(id.initialized);
	CU_ASSERT_TRUE(id.founder);
	CU_ASSERT_EQUAL(id.format, STORE_FORMAT_VERSION);
	CU_ASSERT_EQUAL(id.id, 3);
	CU_ASSERT_STRING_EQUAL(id.cell, "alpha");
	CU_ASSERT_EQUAL(store_check_identity(s, "alpha", 3, err, sizeof err), CHUBBY_OK);

	/* Another cell's or another replica's directory is refused, by name. */
	CU_ASSERT_EQUAL(store_check_identity(s, "beta", 3, err, sizeof err), CHUBBY_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "belongs to cell \"alpha\" replica 3"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not to cell \"beta\" replica 3"));
	CU_ASSERT_EQUAL(store_check_identity(s, "alpha", 4, err, sizeof err), CHUBBY_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "replica 4"));

	/* Initializing twice is a mistake, whatever the arguments. */
	CU_ASSERT_EQUAL(store_init(s, "alpha", 3, true, err, sizeof err), CHUBBY_E_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "already initialized"));
	CU_ASSERT_EQUAL(store_verify(s, err, sizeof err), CHUBBY_OK);
	store_close(s);
}

/* chubbyd --join: a joiner for good (the core never learns slot 1's
 * configuration from it), not a voter, and not a founder. */
static void
test_init_joiner(void)
{
	const char *dir = tdir("joiner");
	struct store *s = open_ok(dir);
	struct store_identity id;
	struct paxos_durable d;

	CU_ASSERT_EQUAL(store_init_joiner(s, "test", 4, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(store_init_joiner(s, "test", 4, err, sizeof err), CHUBBY_E_INVALID);
	s = reopen(s, dir);
	store_identity(s, &id);
	CU_ASSERT_TRUE(id.initialized);
	CU_ASSERT_TRUE(id.joiner);
	CU_ASSERT_FALSE(id.founder);
	CU_ASSERT_EQUAL(store_verify(s, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_TRUE(d.nonvoter);
	CU_ASSERT_EQUAL(d.snap_conf.nvoters, 0);
	store_paxos_durable_free(&d);
	store_close(s);
}

/* A founder records slot 1's voters once: they come back at every open as
 * the configuration with no snapshot, and are not overwritten. */
static void
test_first_conf(void)
{
	const char *dir = tdir("firstconf");
	struct store *s = open_ok(dir);
	struct paxos_conf c, c2;
	struct paxos_durable d;

	memset(&c, 0, sizeof c);
	c.nvoters = 3;
	c.voters[0] = 1;
	c.voters[1] = 2;
	c.voters[2] = 3;
	CU_ASSERT_EQUAL(store_set_first_conf(s, &c, err, sizeof err), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(store_init(s, "test", 1, true, err, sizeof err), CHUBBY_OK);
	memset(&c2, 0, sizeof c2);
	CU_ASSERT_EQUAL(store_set_first_conf(s, &c2, err, sizeof err), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(store_set_first_conf(s, &c, err, sizeof err), CHUBBY_OK);
	c2 = c;
	c2.nvoters = 2;
	CU_ASSERT_EQUAL(store_set_first_conf(s, &c2, err, sizeof err), CHUBBY_E_EXISTS);
	s = reopen(s, dir);
	CU_ASSERT_EQUAL(store_verify(s, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(d.snap_index, 0);
	CU_ASSERT_EQUAL(d.snap_conf.nvoters, 3);
	CU_ASSERT_EQUAL(d.snap_conf.voters[2], 3);
	store_paxos_durable_free(&d);
	store_close(s);
}

static void
test_init_nonvoter(void)
{
	const char *dir = tdir("nonvoter");
	struct store *s = open_ok(dir);
	struct store_identity id;
	struct paxos_durable d;
	struct paxos_persist w;

	/* A wiped replica rejoins: the non-voter flag lands with the identity. */
	CU_ASSERT_EQUAL(store_init(s, "test", 2, false, err, sizeof err), CHUBBY_OK);
	s = reopen(s, dir);
	store_identity(s, &id);
	CU_ASSERT_TRUE(id.initialized);
	CU_ASSERT_FALSE(id.founder);
	CU_ASSERT_EQUAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_TRUE(d.nonvoter);
	store_paxos_durable_free(&d);

	/* Caught up: the core clears it. */
	memset(&w, 0, sizeof w);
	w.set_nonvoter = true;
	w.nonvoter = false;
	CU_ASSERT_EQUAL(store_persist(s, &w, err, sizeof err), CHUBBY_OK);
	s = reopen(s, dir);
	CU_ASSERT_EQUAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_FALSE(d.nonvoter);
	store_paxos_durable_free(&d);
	store_close(s);
}

static void
test_needs_identity(void)
{
	struct store *s = open_ok(tdir("noident"));
	struct store_batch *b = store_batch_new();
	struct paxos_persist w;

	memset(&w, 0, sizeof w);
	w.set_promised = true;
	w.promised = 5;
	CU_ASSERT_EQUAL(store_persist(s, &w, err, sizeof err), CHUBBY_E_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not initialized"));
	store_sm_put(b, "k", 1, "v", 1);
	CU_ASSERT_EQUAL(store_sm_commit(s, b, 1, true, err, sizeof err), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(store_sm_replace(s, b, 1, err, sizeof err), CHUBBY_E_INVALID);
	store_batch_free(b);
	store_batch_free(NULL);
	store_close(s);
}

/* Rewrites the meta record of the store in DIR with format version V, with a
 * valid checksum computed as docs/FORMAT.md says. */
static void
set_meta_version(const char *dir, uint8_t ver)
{
	struct store *s = open_ok(dir);
	uint8_t l[4] = {1, 0, 0, 0}, *v;
	void *raw;
	size_t vlen;
	uint32_t crc;

	CU_ASSERT_EQUAL_FATAL(store_raw_get(s, "M", 1, &raw, &vlen, err, sizeof err), CHUBBY_OK);
	v = raw;
	v[0] = ver;
	crc = store_crc32c(0, l, 4);
	crc = store_crc32c(crc, "M", 1);
	crc = store_crc32c(crc, v, vlen - 4);
	v[vlen - 4] = (uint8_t)crc;
	v[vlen - 3] = (uint8_t)(crc >> 8);
	v[vlen - 2] = (uint8_t)(crc >> 16);
	v[vlen - 1] = (uint8_t)(crc >> 24);
	CU_ASSERT_EQUAL(store_raw_put(s, "M", 1, v, vlen, err, sizeof err), CHUBBY_OK);
	free(raw);
	store_close(s);
}

static void
test_format_version(void)
{
	const char *dir = tdir("format");
	struct store *s = open_init(dir);

	store_close(s);
	/* A future version's meta record is refused, naming both versions. */
	set_meta_version(dir, 3);
	s = NULL;
	CU_ASSERT_EQUAL(store_open(dir, &s, err, sizeof err), CHUBBY_E_STORE);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "format version 3"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "reads version 2"));
}

/* A format-1 directory opens, keeps its records and is format 2 from then on. */
static void
test_format_upgrade(void)
{
	const char *dir = tdir("upgrade");
	struct store *s = open_init(dir);
	struct store_identity id;
	struct paxos_durable d;
	struct paxos_persist w;
	struct paxos_entry e;

	memset(&w, 0, sizeof w);
	entry_set(&e, 1, 0x101, true, "abc", 3);
	w.entries = &e;
	w.nentries = 1;
	w.set_promised = true;
	w.promised = 0x201;
	CU_ASSERT_EQUAL_FATAL(store_persist(s, &w, err, sizeof err), CHUBBY_OK);
	store_close(s);
	set_meta_version(dir, 1);
	s = open_ok(dir);
	store_identity(s, &id);
	CU_ASSERT_EQUAL(id.format, STORE_FORMAT_VERSION);
	CU_ASSERT_EQUAL(store_verify(s, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(d.promised, 0x201);
	CU_ASSERT_EQUAL(d.chosen, 0);
	CU_ASSERT_EQUAL(d.nentries, 1);
	store_paxos_durable_free(&d);
	store_close(s);
	s = open_ok(dir);
	store_identity(s, &id);
	CU_ASSERT_EQUAL(id.format, STORE_FORMAT_VERSION);
	store_close(s);
}

/* Several PERSISTs in one batch act as if applied one after another. */
static void
test_persist_group(void)
{
	struct store *s = open_init(tdir("group"));
	struct paxos_persist w[3];
	const struct paxos_persist *ws[3] = {&w[0], &w[1], &w[2]};
	struct paxos_entry e[5];
	struct paxos_durable d;
	struct store_stats st;

	memset(w, 0, sizeof w);
	/* 1: promise, slots 1..3 accepted. */
	w[0].set_promised = true;
	w[0].promised = 0x101;
	entry_set(&e[0], 1, 0x101, false, "a", 1);
	entry_set(&e[1], 2, 0x101, false, "b", 1);
	entry_set(&e[2], 3, 0x101, false, "c", 1);
	w[0].entries = &e[0];
	w[0].nentries = 3;
	w[0].chosen_upto = 1;
	/* 2: a higher promise, a snapshot at 2 that truncates slots <= 2, slot 2 again
	 * (kept: its own truncation comes first). */
	w[1].set_promised = true;
	w[1].promised = 0x201;
	w[1].set_snapshot = true;
	w[1].snap_index = 2;
	w[1].snap.data = (uint8_t *)(uintptr_t)"S";
	w[1].snap.len = 1;
	w[1].truncate_upto = 2;
	entry_set(&e[3], 2, 0x201, false, "B", 1);
	w[1].entries = &e[3];
	w[1].nentries = 1;
	w[1].chosen_upto = 3;
	/* 3: slot 4 and nothing else. */
	entry_set(&e[4], 4, 0x201, false, "d", 1);
	w[2].entries = &e[4];
	w[2].nentries = 1;
	CU_ASSERT_EQUAL_FATAL(store_persist_group(s, ws, 3, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(d.promised, 0x201);
	CU_ASSERT_EQUAL(d.snap_index, 2);
	CU_ASSERT_EQUAL(d.chosen, 3);
	CU_ASSERT_EQUAL_FATAL(d.nentries, 3);
	CU_ASSERT_EQUAL(d.entries[0].slot, 2);
	CU_ASSERT_EQUAL(d.entries[0].ballot, 0x201);
	CU_ASSERT_EQUAL(d.entries[1].slot, 3);
	CU_ASSERT_EQUAL(d.entries[2].slot, 4);
	store_paxos_durable_free(&d);
	store_stats(s, &st);
	CU_ASSERT_EQUAL(st.log_entries, 3);
	CU_ASSERT_EQUAL(st.log_first, 2);
	CU_ASSERT_EQUAL(st.log_last, 4);
	CU_ASSERT_EQUAL(store_verify(s, err, sizeof err), CHUBBY_OK);
	store_close(s);
}

/* The example records of docs/FORMAT.md, byte for byte. */
static void
test_format_examples(void)
{
	static const uint8_t entry[] = {0x01, 0x01, 0, 0, 0, 0, 0, 0, 0x01, 'a', 'b', 'c', 0x6a,
	    0x8b, 0xa6, 0x4a};
	static const uint8_t meta[] = {0x02, 0, 0, 0, 0x03, 0, 0, 0, 0x01, 'l', 'o', 'c', 'a', 'l',
	    0x12, 0x5a, 0xc5, 0xa3};
	static const uint8_t chosen[] = {0x07, 0, 0, 0, 0, 0, 0, 0, 0xed, 0xe9, 0xfc, 0xb6};
	struct store *s = open_ok(tdir("examples"));
	struct paxos_persist w;
	struct paxos_entry e;
	uint8_t k[9];
	void *v;
	size_t vlen;

	CU_ASSERT_EQUAL_FATAL(store_init(s, "local", 3, true, err, sizeof err), CHUBBY_OK);
	memset(&w, 0, sizeof w);
	entry_set(&e, 1, 0x101, true, "abc", 3);
	w.entries = &e;
	w.nentries = 1;
	CU_ASSERT_EQUAL_FATAL(store_persist(s, &w, err, sizeof err), CHUBBY_OK);
	log_key(k, 1);
	CU_ASSERT_EQUAL(k[8], 1);
	CU_ASSERT_EQUAL_FATAL(store_raw_get(s, k, 9, &v, &vlen, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(vlen, sizeof entry);
	CU_ASSERT(vlen == sizeof entry && memcmp(v, entry, vlen) == 0);
	free(v);
	memset(&w, 0, sizeof w);
	w.chosen_upto = 7;
	CU_ASSERT_EQUAL_FATAL(store_persist(s, &w, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(store_raw_get(s, "Pc", 2, &v, &vlen, err, sizeof err), CHUBBY_OK);
	CU_ASSERT(vlen == sizeof chosen && memcmp(v, chosen, vlen) == 0);
	free(v);
	CU_ASSERT_EQUAL_FATAL(store_raw_get(s, "M", 1, &v, &vlen, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(vlen, sizeof meta);
	CU_ASSERT(vlen == sizeof meta && memcmp(v, meta, vlen) == 0);
	free(v);
	store_close(s);
}

static void
test_records_without_meta(void)
{
	const char *dir = tdir("nometa");
	struct store *s = open_ok(dir);

	CU_ASSERT_EQUAL(store_raw_put(s, "Sx", 2, "junkjunk", 8, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(store_verify(s, err, sizeof err), CHUBBY_E_CORRUPT);
	store_close(s);
	s = NULL;
	CU_ASSERT_EQUAL(store_open(dir, &s, err, sizeof err), CHUBBY_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no meta record"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "sm key \"x\""));
}

static void
test_lock_same_process(void)
{
	const char *dir = tdir("lock1");
	struct store *s = open_ok(dir), *s2 = NULL;

	CU_ASSERT_EQUAL(store_open(dir, &s2, err, sizeof err), CHUBBY_E_STORE);
	CU_ASSERT_PTR_NULL(s2);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "LOCK"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "another chubbyd"));
	store_close(s);
	/* Closed: free again. */
	s = open_ok(dir);
	store_close(s);
}

static void
test_lock_other_process(void)
{
	const char *dir = tdir("lock2");
	struct store *s = open_ok(dir);
	char lockfile[600], c;
	int go[2], done[2], fd, rc;
	struct flock fl;
	pid_t pid;

	store_close(s);
	snprintf(lockfile, sizeof lockfile, "%s/LOCK", dir);
	CU_ASSERT_FATAL(pipe(go) == 0 && pipe(done) == 0);
	/* The child takes the same fcntl lock LevelDB takes, as another
	 * chubbyd would, using only async-signal-safe calls. */
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		/* Never outlive a parent that failed: at most 30 s, and EOF
		 * on DONE when the parent closes its end (ours is closed). */
		alarm(30);
		close(go[0]);
		close(done[1]);
		fd = open(lockfile, O_RDWR);
		memset(&fl, 0, sizeof fl);
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		c = fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0 ? 'y' : 'n';
		if (write(go[1], &c, 1) != 1)
			_exit(1);
		(void)read(done[0], &c, 1);
		_exit(0);
	}
	close(go[1]);
	close(done[0]);
	CU_ASSERT_EQUAL(read(go[0], &c, 1), 1);
	CU_ASSERT_EQUAL(c, 'y');
	s = NULL;
	rc = store_open(dir, &s, err, sizeof err);
	CU_ASSERT_EQUAL(rc, CHUBBY_E_STORE);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "LOCK"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "another chubbyd"));
	close(done[1]);
	close(go[0]);
	CU_ASSERT_EQUAL(waitpid(pid, NULL, 0), pid);
	s = open_ok(dir);
	store_close(s);
}

/* ---- Paxos state ------------------------------------------------------- */

static void
test_paxos_roundtrip(void)
{
	const char *dir = tdir("paxos");
	struct store *s = open_init(dir);
	struct paxos_durable d;
	struct paxos_persist w;
	struct paxos_entry e[3];
	const struct paxos_entry *got;
	struct store_stats st;
	uint8_t *big = malloc(256 * 1024);
	uint64_t i;

	fill_random(big, 256 * 1024);
	/* Many entries over many writes, one of them empty, one of 256 KiB. */
	for (i = 1; i <= 1000; i += 100)
		persist_range(s, i, i + 99, PAXOS_BALLOT(1, 1), i < 500);
	memset(&w, 0, sizeof w);
	w.set_promised = true;
	w.promised = PAXOS_BALLOT(7, 2);
	entry_set(&e[0], 1001, PAXOS_BALLOT(7, 2), false, big, 256 * 1024);
	entry_set(&e[1], 1002, PAXOS_BALLOT(7, 2), true, NULL, 0);
	entry_set(&e[2], 5, PAXOS_BALLOT(7, 2), true, "five", 4); /* upsert */
	w.entries = e;
	w.nentries = 3;
	CU_ASSERT_EQUAL(store_persist(s, &w, err, sizeof err), CHUBBY_OK);

	s = reopen(s, dir);
	CU_ASSERT_EQUAL(store_verify(s, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(d.promised, PAXOS_BALLOT(7, 2));
	CU_ASSERT_EQUAL_FATAL(d.nentries, 1002);
	for (i = 0; i < d.nentries; i++)
		CU_ASSERT_EQUAL(d.entries[i].slot, i + 1); /* slot order */
	got = find_entry(&d, 17);
	CU_ASSERT_EQUAL_FATAL(got->slot, 17);
	CU_ASSERT_EQUAL(got->ballot, PAXOS_BALLOT(1, 1));
	CU_ASSERT_TRUE(got->chosen);
	CU_ASSERT_EQUAL(got->value.len, 3);
	CU_ASSERT_EQUAL(memcmp(got->value.data, "v17", 3), 0);
	got = find_entry(&d, 600);
	CU_ASSERT_EQUAL_FATAL(got->slot, 600);
	CU_ASSERT_FALSE(got->chosen);
	got = find_entry(&d, 5);
	CU_ASSERT_EQUAL_FATAL(got->slot, 5);
	CU_ASSERT_EQUAL(got->ballot, PAXOS_BALLOT(7, 2));
	CU_ASSERT_EQUAL(got->value.len, 4);
	CU_ASSERT_EQUAL(memcmp(got->value.data, "five", 4), 0);
	got = find_entry(&d, 1001);
	CU_ASSERT_EQUAL_FATAL(got->slot, 1001);
	CU_ASSERT_EQUAL_FATAL(got->value.len, 256 * 1024);
	CU_ASSERT_EQUAL(memcmp(got->value.data, big, 256 * 1024), 0);
	got = find_entry(&d, 1002);
	CU_ASSERT_EQUAL_FATAL(got->slot, 1002);
	CU_ASSERT_EQUAL(got->value.len, 0);
	CU_ASSERT_PTR_NULL(got->value.data);
	CU_ASSERT_TRUE(got->chosen);
	store_paxos_durable_free(&d);
	CU_ASSERT_EQUAL(d.nentries, 0);

	store_stats(s, &st);
	CU_ASSERT_EQUAL(st.log_entries, 1002);
	CU_ASSERT_EQUAL(st.log_first, 1);
	CU_ASSERT_EQUAL(st.log_last, 1002);
	CU_ASSERT(st.bytes_log >= 256 * 1024);
	CU_ASSERT(st.bytes_total >= st.bytes_log);
	free(big);
	store_close(s);
}

static void
test_snapshot_truncate(void)
{
	const char *dir = tdir("snap");
	struct store *s = open_init(dir);
	struct paxos_durable d;
	struct paxos_persist w;
	struct paxos_entry e[2];
	struct store_stats st;
	uint8_t *snap = malloc(100000);
	uint64_t i;

	fill_random(snap, 100000);
	persist_range(s, 1, 100, PAXOS_BALLOT(1, 1), true);

	/* The snapshot covers 60; keep 10 slots behind it; one new slot. */
	memset(&w, 0, sizeof w);
	w.set_snapshot = true;
	w.snap_index = 60;
	w.snap.data = snap;
	w.snap.len = 100000;
	/* The configuration after slot 60 rides with the snapshot
	 * (docs/PAXOS.md "Membership"). */
	w.snap_conf.nvoters = 3;
	w.snap_conf.voters[0] = 1;
	w.snap_conf.voters[1] = 2;
	w.snap_conf.voters[2] = 5;
	w.snap_conf.nlearners = 1;
	w.snap_conf.learners[0] = 4;
	w.truncate_upto = 50;
	entry_set(&e[0], 101, PAXOS_BALLOT(1, 1), false, "x", 1);
	w.entries = e;
	w.nentries = 1;
	CU_ASSERT_EQUAL(store_persist(s, &w, err, sizeof err), CHUBBY_OK);
	store_stats(s, &st);
	CU_ASSERT_EQUAL(st.log_entries, 51);
	CU_ASSERT_EQUAL(st.log_first, 51);
	CU_ASSERT_EQUAL(st.log_last, 101);

	s = reopen(s, dir);
	store_stats(s, &st);
	CU_ASSERT_EQUAL(st.log_entries, 51);
	CU_ASSERT_EQUAL(st.log_first, 51);
	CU_ASSERT_EQUAL_FATAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(d.snap_index, 60);
	CU_ASSERT_EQUAL_FATAL(d.snap.len, 100000);
	CU_ASSERT_EQUAL(memcmp(d.snap.data, snap, 100000), 0);
	CU_ASSERT_EQUAL(d.snap_conf.nvoters, 3);
	CU_ASSERT_EQUAL(d.snap_conf.voters[2], 5);
	CU_ASSERT_EQUAL(d.snap_conf.nlearners, 1);
	CU_ASSERT_EQUAL(d.snap_conf.learners[0], 4);
	CU_ASSERT_EQUAL(store_verify(s, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(d.nentries, 51);
	for (i = 0; i < 51; i++)
		CU_ASSERT_EQUAL(d.entries[i].slot, 51 + i);
	store_paxos_durable_free(&d);

	/* Truncate then upsert, in that order: an upsert at or below the
	 * truncation point survives it; re-upserting keeps the count. */
	memset(&w, 0, sizeof w);
	w.truncate_upto = 80;
	entry_set(&e[0], 70, PAXOS_BALLOT(2, 1), true, "back", 4);
	entry_set(&e[1], 90, PAXOS_BALLOT(2, 1), true, "again", 5);
	w.entries = e;
	w.nentries = 2;
	CU_ASSERT_EQUAL(store_persist(s, &w, err, sizeof err), CHUBBY_OK);
	store_stats(s, &st);
	CU_ASSERT_EQUAL(st.log_entries, 22); /* 70, 81..101 */
	CU_ASSERT_EQUAL(st.log_first, 70);
	CU_ASSERT_EQUAL(st.log_last, 101);
	CU_ASSERT_EQUAL_FATAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(d.nentries, 22);
	CU_ASSERT_EQUAL(find_entry(&d, 70)->slot, 70);
	CU_ASSERT_EQUAL(find_entry(&d, 71)->slot, 0);
	CU_ASSERT_EQUAL(find_entry(&d, 80)->slot, 0);
	CU_ASSERT_EQUAL(find_entry(&d, 90)->value.len, 5);
	store_paxos_durable_free(&d);

	/* Entries out of order and repeated within one write count once. */
	memset(&w, 0, sizeof w);
	entry_set(&e[0], 95, PAXOS_BALLOT(2, 1), true, "a", 1);
	entry_set(&e[1], 93, PAXOS_BALLOT(2, 1), true, "b", 1);
	w.entries = e;
	w.nentries = 2;
	CU_ASSERT_EQUAL(store_persist(s, &w, err, sizeof err), CHUBBY_OK);
	store_stats(s, &st);
	CU_ASSERT_EQUAL(st.log_entries, 22);

	/* Truncating past the end empties the log. */
	memset(&w, 0, sizeof w);
	w.truncate_upto = 1000;
	CU_ASSERT_EQUAL(store_persist(s, &w, err, sizeof err), CHUBBY_OK);
	store_stats(s, &st);
	CU_ASSERT_EQUAL(st.log_entries, 0);
	CU_ASSERT_EQUAL(st.log_first, 0);
	s = reopen(s, dir);
	CU_ASSERT_EQUAL_FATAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(d.nentries, 0);
	CU_ASSERT_EQUAL(d.snap_index, 60); /* the snapshot stays */
	CU_ASSERT_EQUAL(d.snap_conf.nvoters, 3); /* with its configuration */
	store_paxos_durable_free(&d);
	/* A snapshot whose configuration is unknown replaces the old one's. */
	memset(&w, 0, sizeof w);
	w.set_snapshot = true;
	w.snap_index = 70;
	w.snap.data = snap;
	w.snap.len = 10;
	CU_ASSERT_EQUAL(store_persist(s, &w, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(d.snap_index, 70);
	CU_ASSERT_EQUAL(d.snap_conf.nvoters, 0);
	store_paxos_durable_free(&d);
	{
		/* Into an empty log: the first entries of a write must not be
		 * taken for entries already on disk. */
		struct paxos_entry f[5];
		memset(&w, 0, sizeof w);
		entry_set(&f[0], 1005, PAXOS_BALLOT(3, 1), false, "5", 1);
		entry_set(&f[1], 1003, PAXOS_BALLOT(3, 1), false, "3", 1);
		entry_set(&f[2], 1004, PAXOS_BALLOT(3, 1), false, "4", 1);
		entry_set(&f[3], 1004, PAXOS_BALLOT(3, 1), true, "4", 1);
		entry_set(&f[4], 1001, PAXOS_BALLOT(3, 1), false, "1", 1);
		w.entries = f;
		w.nentries = 5;
		CU_ASSERT_EQUAL(store_persist(s, &w, err, sizeof err), CHUBBY_OK);
		store_stats(s, &st);
		CU_ASSERT_EQUAL(st.log_entries, 4);
		CU_ASSERT_EQUAL(st.log_first, 1001);
		CU_ASSERT_EQUAL(st.log_last, 1005);
		/* Again, now that they are on disk, plus a gap filled. */
		entry_set(&f[4], 1002, PAXOS_BALLOT(3, 1), false, "2", 1);
		CU_ASSERT_EQUAL(store_persist(s, &w, err, sizeof err), CHUBBY_OK);
		store_stats(s, &st);
		CU_ASSERT_EQUAL(st.log_entries, 5);
		s = reopen(s, dir);
		store_stats(s, &st);
		CU_ASSERT_EQUAL(st.log_entries, 5);
		CU_ASSERT_EQUAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
		CU_ASSERT_EQUAL(d.nentries, 5);
		CU_ASSERT_TRUE(find_entry(&d, 1004)->chosen); /* the later put won */
		store_paxos_durable_free(&d);
	}
	free(snap);
	store_close(s);
}

/* The log's count and extent, kept in memory, always match what is on disk. */
static void
test_log_extent_random(void)
{
	const char *dir = tdir("extent");
	struct store *s = open_init(dir);
	struct paxos_entry e[8];
	struct paxos_persist w;
	struct paxos_durable d;
	struct store_stats st;
	uint64_t floor = 0;
	int round;
	size_t i;

	for (round = 0; round < 300; round++) {
		memset(&w, 0, sizeof w);
		if (rng() % 8 == 0)
			w.truncate_upto = floor = floor + rng() % 40;
		w.nentries = (size_t)(rng() % 8);
		for (i = 0; i < w.nentries; i++)
			entry_set(&e[i], floor + 1 + rng() % 60, 1, rng() % 2 == 0, "v", 1);
		w.entries = e;
		CU_ASSERT_EQUAL_FATAL(store_persist(s, &w, err, sizeof err), CHUBBY_OK);
		if (round % 50 == 49)
			s = reopen(s, dir);
		store_stats(s, &st);
		CU_ASSERT_EQUAL_FATAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
		CU_ASSERT_EQUAL(st.log_entries, d.nentries);
		CU_ASSERT_EQUAL(st.log_first, d.nentries > 0 ? d.entries[0].slot : 0);
		CU_ASSERT_EQUAL(st.log_last, d.nentries > 0 ? d.entries[d.nentries - 1].slot : 0);
		for (i = 0; i < d.nentries; i++)
			CU_ASSERT(d.entries[i].slot > floor);
		store_paxos_durable_free(&d);
	}
	store_close(s);
}

static void
test_persist_atomic(void)
{
	const char *dir = tdir("atomic");
	struct store *s = open_init(dir);
	struct paxos_durable d;
	struct paxos_persist w;
	struct paxos_entry e[3];

	/* The promise and the accepted values land together... */
	memset(&w, 0, sizeof w);
	w.set_promised = true;
	w.promised = PAXOS_BALLOT(4, 3);
	entry_set(&e[0], 1, PAXOS_BALLOT(4, 3), false, "a", 1);
	entry_set(&e[1], 2, PAXOS_BALLOT(4, 3), false, "b", 1);
	w.entries = e;
	w.nentries = 2;
	CU_ASSERT_EQUAL(store_persist(s, &w, err, sizeof err), CHUBBY_OK);
	s = reopen(s, dir);
	CU_ASSERT_EQUAL_FATAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(d.promised, PAXOS_BALLOT(4, 3));
	CU_ASSERT_EQUAL(d.nentries, 2);
	store_paxos_durable_free(&d);

	/* ...and a write refused for one bad part leaves no part behind. */
	w.promised = PAXOS_BALLOT(5, 3);
	entry_set(&e[2], 0, PAXOS_BALLOT(5, 3), false, "zero", 4);
	w.nentries = 3;
	CU_ASSERT_EQUAL(store_persist(s, &w, err, sizeof err), CHUBBY_E_INVALID);
	s = reopen(s, dir);
	CU_ASSERT_EQUAL_FATAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(d.promised, PAXOS_BALLOT(4, 3));
	CU_ASSERT_EQUAL(d.nentries, 2);
	store_paxos_durable_free(&d);
	store_close(s);
}

/* ---- state machine ----------------------------------------------------- */

static void
test_sm_commit(void)
{
	const char *dir = tdir("sm");
	struct store *s = open_init(dir);
	struct store_batch *b = store_batch_new();
	void *v;
	size_t vlen;

	store_sm_put(b, "/ls/a", 5, "one", 3);
	store_sm_put(b, "/ls/b", 5, "two", 3);
	store_sm_put(b, "/ls/e", 5, "", 0);
	CU_ASSERT_EQUAL(store_sm_commit(s, b, 5, true, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(store_sm_applied(s), 5);

	store_sm_del(b, "/ls/a", 5);
	store_sm_put(b, "/ls/b", 5, "TWO", 3);
	CU_ASSERT_EQUAL(store_sm_commit(s, b, 6, false, err, sizeof err), CHUBBY_OK);
	/* The applied index never goes back; a refused commit changes nothing. */
	store_sm_put(b, "/ls/c", 5, "three", 5);
	CU_ASSERT_EQUAL(store_sm_commit(s, b, 4, true, err, sizeof err), CHUBBY_E_INVALID);
	store_batch_clear(b);

	s = reopen(s, dir);
	CU_ASSERT_EQUAL(store_sm_applied(s), 6);
	CU_ASSERT_EQUAL(store_sm_get(s, "/ls/a", 5, &v, &vlen, err, sizeof err),
	    CHUBBY_E_NOT_FOUND);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_EQUAL(store_sm_get(s, "/ls/c", 5, &v, &vlen, err, sizeof err),
	    CHUBBY_E_NOT_FOUND);
	CU_ASSERT_EQUAL_FATAL(store_sm_get(s, "/ls/b", 5, &v, &vlen, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(vlen, 3);
	CU_ASSERT_EQUAL(memcmp(v, "TWO", 3), 0);
	free(v);
	CU_ASSERT_EQUAL_FATAL(store_sm_get(s, "/ls/e", 5, &v, &vlen, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(vlen, 0);
	CU_ASSERT_PTR_NOT_NULL(v);
	free(v);

	/* The paxos side reports the state machine's applied index. */
	{
		struct paxos_durable d;
		CU_ASSERT_EQUAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
		CU_ASSERT_EQUAL(d.applied, 6);
		store_paxos_durable_free(&d);
	}
	CU_ASSERT_EQUAL(store_verify(s, err, sizeof err), CHUBBY_OK);
	store_batch_free(b);
	store_close(s);
}

/* Collects the keys under PREFIX as "k=v;" into OUT. */
static int
iter_collect(struct store *s, const char *prefix, char *out, size_t size)
{
	struct store_iter *it = store_sm_iter_new(s, prefix, strlen(prefix));
	const void *k, *v;
	size_t klen, vlen, o = 0;
	int rc;

	out[0] = '\0';
	while (store_sm_iter_next(it, &k, &klen, &v, &vlen))
		o += (size_t)snprintf(out + o, size - o, "%.*s=%.*s;", (int)klen, (const char *)k,
		    (int)vlen, (const char *)v);
	rc = store_sm_iter_status(it, err, sizeof err);
	CU_ASSERT_FALSE(store_sm_iter_next(it, &k, &klen, &v, &vlen)); /* stays ended */
	store_sm_iter_free(it);
	return rc;
}

static void
test_sm_iter(void)
{
	struct store *s = open_init(tdir("iter"));
	struct store_batch *b = store_batch_new();
	struct store_iter *it;
	const void *k, *v;
	size_t klen, vlen, n;
	char out[512];

	store_sm_put(b, "a", 1, "0", 1);
	store_sm_put(b, "a/2", 3, "2", 1);
	store_sm_put(b, "a/1", 3, "1", 1);
	store_sm_put(b, "a0", 2, "x", 1);
	store_sm_put(b, "b/1", 3, "3", 1);
	CU_ASSERT_EQUAL(store_sm_commit(s, b, 1, true, err, sizeof err), CHUBBY_OK);
	/* Paxos records sort around the sm range: they must not show up. */
	persist_range(s, 1, 3, PAXOS_BALLOT(1, 1), true);

	CU_ASSERT_EQUAL(iter_collect(s, "a/", out, sizeof out), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(out, "a/1=1;a/2=2;");
	CU_ASSERT_EQUAL(iter_collect(s, "", out, sizeof out), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(out, "a=0;a/1=1;a/2=2;a0=x;b/1=3;");
	CU_ASSERT_EQUAL(iter_collect(s, "c", out, sizeof out), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(out, "");

	/* An iterator sees the state as of its creation. */
	it = store_sm_iter_new(s, "", 0);
	store_sm_del(b, "a", 1);
	store_sm_put(b, "z", 1, "late", 4);
	CU_ASSERT_EQUAL(store_sm_commit(s, b, 2, true, err, sizeof err), CHUBBY_OK);
	for (n = 0; store_sm_iter_next(it, &k, &klen, &v, &vlen); n++)
		CU_ASSERT_FALSE(klen == 1 && memcmp(k, "z", 1) == 0);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_EQUAL(store_sm_iter_status(it, err, sizeof err), CHUBBY_OK);
	store_sm_iter_free(it);
	store_sm_iter_free(NULL);
	CU_ASSERT_EQUAL(iter_collect(s, "", out, sizeof out), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(out, "a/1=1;a/2=2;a0=x;b/1=3;z=late;");
	store_batch_free(b);
	store_close(s);
}

static void
test_sm_replace(void)
{
	const char *dir = tdir("replace");
	struct store *s = open_init(dir);
	struct store_batch *b = store_batch_new();
	struct paxos_durable d;
	char out[512];
	int i;

	for (i = 0; i < 500; i++) {
		char k[16];
		snprintf(k, sizeof k, "old/%03d", i);
		store_sm_put(b, k, strlen(k), "o", 1);
	}
	store_sm_put(b, "keep", 4, "old", 3);
	CU_ASSERT_EQUAL(store_sm_commit(s, b, 10, true, err, sizeof err), CHUBBY_OK);
	persist_range(s, 1, 10, PAXOS_BALLOT(1, 1), true);

	/* INSTALL_SNAPSHOT: the new state, and nothing of the old. */
	store_sm_put(b, "keep", 4, "new", 3);
	store_sm_put(b, "fresh", 5, "f", 1);
	CU_ASSERT_EQUAL(store_sm_replace(s, b, 500, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(store_sm_applied(s), 500);
	s = reopen(s, dir);
	CU_ASSERT_EQUAL(store_sm_applied(s), 500);
	CU_ASSERT_EQUAL(iter_collect(s, "", out, sizeof out), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(out, "fresh=f;keep=new;");
	/* The Paxos records are not the state machine's to replace. */
	CU_ASSERT_EQUAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(d.nentries, 10);
	CU_ASSERT_EQUAL(d.applied, 500);
	store_paxos_durable_free(&d);

	/* Replacing with nothing empties the state machine. */
	CU_ASSERT_EQUAL(store_sm_replace(s, b, 600, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(iter_collect(s, "", out, sizeof out), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_EQUAL(store_verify(s, err, sizeof err), CHUBBY_OK);
	store_batch_free(b);
	store_close(s);
}

/* ---- corruption -------------------------------------------------------- */

static void
test_corrupt_log_entry(void)
{
	const char *dir = tdir("corrupt-log");
	struct store *s = open_init(dir);
	struct paxos_durable d;
	uint8_t k[9];

	persist_range(s, 1, 10, PAXOS_BALLOT(1, 1), true);
	log_key(k, 7);
	flip_value(s, k, sizeof k, 9); /* first byte of the value */
	s = reopen(s, dir);
	CU_ASSERT_EQUAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "log slot 7"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "checksum"));
	store_paxos_durable_free(&d);
	err[0] = '\0';
	CU_ASSERT_EQUAL(store_verify(s, err, sizeof err), CHUBBY_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "log slot 7"));
	store_close(s);
}

static void
test_corrupt_moved_value(void)
{
	const char *dir = tdir("corrupt-moved");
	struct store *s = open_init(dir);
	struct paxos_durable d;
	uint8_t k3[9], k4[9];
	void *v;
	size_t vlen;

	/* Slot 3's intact value under slot 4's key: the key is in the CRC. */
	persist_range(s, 1, 5, PAXOS_BALLOT(1, 1), true);
	log_key(k3, 3);
	log_key(k4, 4);
	CU_ASSERT_EQUAL_FATAL(store_raw_get(s, k3, 9, &v, &vlen, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(store_raw_put(s, k4, 9, v, vlen, err, sizeof err), CHUBBY_OK);
	free(v);
	CU_ASSERT_EQUAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "log slot 4"));
	store_paxos_durable_free(&d);
	store_close(s);
}

static void
test_corrupt_sm(void)
{
	const char *dir = tdir("corrupt-sm");
	struct store *s = open_init(dir);
	struct store_batch *b = store_batch_new();
	char out[512];
	void *v;
	size_t vlen;

	store_sm_put(b, "/ls/ok", 6, "fine", 4);
	store_sm_put(b, "/ls/bad", 7, "contents", 8);
	CU_ASSERT_EQUAL(store_sm_commit(s, b, 1, true, err, sizeof err), CHUBBY_OK);
	flip_value(s, "S/ls/bad", 8, 2);
	CU_ASSERT_EQUAL(store_sm_get(s, "/ls/bad", 7, &v, &vlen, err, sizeof err),
	    CHUBBY_E_CORRUPT);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "sm key \"/ls/bad\""));
	CU_ASSERT_EQUAL(store_sm_get(s, "/ls/ok", 6, &v, &vlen, err, sizeof err), CHUBBY_OK);
	free(v);
	err[0] = '\0';
	CU_ASSERT_EQUAL(iter_collect(s, "/ls/", out, sizeof out), CHUBBY_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "sm key \"/ls/bad\""));
	err[0] = '\0';
	CU_ASSERT_EQUAL(store_verify(s, err, sizeof err), CHUBBY_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "sm key \"/ls/bad\""));

	/* A value too short to hold a checksum is caught as well. */
	CU_ASSERT_EQUAL(store_raw_put(s, "S/ls/bad", 8, "ab", 2, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(store_sm_get(s, "/ls/bad", 7, &v, &vlen, err, sizeof err),
	    CHUBBY_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "too short"));
	store_batch_free(b);
	store_close(s);
}

static void
test_corrupt_meta_and_scalars(void)
{
	const char *dir = tdir("corrupt-meta");
	struct store *s = open_init(dir);
	struct paxos_persist w;
	struct paxos_durable d;

	memset(&w, 0, sizeof w);
	w.set_promised = true;
	w.promised = 99;
	CU_ASSERT_EQUAL(store_persist(s, &w, err, sizeof err), CHUBBY_OK);
	flip_value(s, "Pp", 2, 0);
	CU_ASSERT_EQUAL(store_load_paxos(s, &d, err, sizeof err), CHUBBY_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "paxos promised ballot"));
	store_paxos_durable_free(&d);

	/* A key no format-1 writer makes is reported by verify. */
	flip_value(s, "Pp", 2, 0); /* repaired */
	CU_ASSERT_EQUAL(store_verify(s, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(store_raw_put(s, "Q", 1, "\0\0\0\0", 4, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(store_verify(s, err, sizeof err), CHUBBY_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown key \"Q\""));

	flip_value(s, "M", 1, 5);
	store_close(s);
	s = NULL;
	CU_ASSERT_EQUAL(store_open(dir, &s, err, sizeof err), CHUBBY_E_CORRUPT);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "meta record"));
}

/* Finds NEEDLE in the files of DIR whose names end in SUFFIX and flips a
 * byte of it there; true if found. */
static bool
flip_in_files(const char *dir, const char *suffix, const uint8_t *needle, size_t nlen)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	char path[1024];
	uint8_t *buf;
	bool found = false;
	size_t len, i, sl = strlen(suffix);
	FILE *f;
	long sz;

	if (dp == NULL)
		return false;
	while (!found && (de = readdir(dp)) != NULL) {
		len = strlen(de->d_name);
		if (len < sl || strcmp(de->d_name + len - sl, suffix) != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if ((f = fopen(path, "r+b")) == NULL)
			continue;
		fseek(f, 0, SEEK_END);
		sz = ftell(f);
		fseek(f, 0, SEEK_SET);
		buf = malloc(sz > 0 ? (size_t)sz : 1);
		if (sz > 0 && fread(buf, 1, (size_t)sz, f) == (size_t)sz) {
			for (i = 0; i + nlen <= (size_t)sz; i++)
				if (memcmp(buf + i, needle, nlen) == 0) {
					buf[i + nlen / 2] ^= 0x01;
					fseek(f, (long)(i + nlen / 2), SEEK_SET);
					fputc(buf[i + nlen / 2], f);
					found = true;
					break;
				}
		}
		free(buf);
		fclose(f);
	}
	closedir(dp);
	return found;
}

static void
test_corrupt_table_file(void)
{
	const char *dir = tdir("corrupt-file");
	struct store *s = open_init(dir);
	struct store_batch *b = store_batch_new();
	uint8_t *val = malloc(64 * 1024);
	int rc;

	/* Random bytes do not compress: they appear as they are in the table. */
	fill_random(val, 64 * 1024);
	store_sm_put(b, "/ls/big", 7, val, 64 * 1024);
	CU_ASSERT_EQUAL(store_sm_commit(s, b, 1, true, err, sizeof err), CHUBBY_OK);
	store_batch_free(b);
	/* Reopening replays the log into a table file. */
	s = reopen(s, dir);
	store_close(s);
	CU_ASSERT_FATAL(flip_in_files(dir, ".ldb", val + 1000, 64));
	free(val);

	/* LevelDB's own block checksum catches it; reported as corruption. */
	s = NULL;
	rc = store_open(dir, &s, err, sizeof err);
	if (rc == CHUBBY_OK) {
		rc = store_verify(s, err, sizeof err);
		store_close(s);
	}
	CU_ASSERT_EQUAL(rc, CHUBBY_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "Corruption"));
}

void
harness_register(void)
{
	static const struct harness_test basics[] = {
	    {"crc32c test vectors", test_crc32c},
	    {"empty store", test_open_empty},
	    {"identity: init, check, other cell or replica refused", test_identity},
	    {"identity: rejoining replica starts as non-voter", test_init_nonvoter},
	    {"identity: a joiner (chubbyd --join) for good", test_init_joiner},
	    {"slot 1's configuration recorded once", test_first_conf},
	    {"writes need an identity", test_needs_identity},
	    {"format version mismatch refused", test_format_version},
	    {"FORMAT.md examples byte for byte", test_format_examples},
	    {"format 1 upgraded at open", test_format_upgrade},
	    {"group commit of several PERSISTs", test_persist_group},
	    {"records without a meta record refused", test_records_without_meta},
	    {"second open in this process refused", test_lock_same_process},
	    {"open while another process holds the lock refused", test_lock_other_process},
	    {NULL, NULL},
	};
	static const struct harness_test paxos[] = {
	    {"round trip: many entries, 256 KiB value, upsert", test_paxos_roundtrip},
	    {"snapshot and truncation", test_snapshot_truncate},
	    {"persist is all or nothing", test_persist_atomic},
	    {"log count and extent match the disk (random)", test_log_extent_random},
	    {NULL, NULL},
	};
	static const struct harness_test sm[] = {
	    {"commit with applied index", test_sm_commit},
	    {"iteration by prefix, consistent view", test_sm_iter},
	    {"replace (snapshot install)", test_sm_replace},
	    {NULL, NULL},
	};
	static const struct harness_test corrupt[] = {
	    {"flipped log entry named", test_corrupt_log_entry},
	    {"value under the wrong key", test_corrupt_moved_value},
	    {"flipped sm value named", test_corrupt_sm},
	    {"meta, scalars, unknown keys", test_corrupt_meta_and_scalars},
	    {"damaged table file", test_corrupt_table_file},
	    {NULL, NULL},
	};
	harness_suite("store", NULL, NULL, basics);
	harness_suite("store-paxos", NULL, NULL, paxos);
	harness_suite("store-sm", NULL, NULL, sm);
	harness_suite("store-corrupt", NULL, NULL, corrupt);
}
