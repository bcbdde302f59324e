/*
 * libchubby_async: drives an async libchubby client (chubby_open_async,
 * docs/CLIENT.md "Driving libchubby from your own event loop") from the
 * application's own loop, for tests/integration/test_libchubby_async.sh.
 *
 *   libchubby_async [-C CELL] libevent|poll PATH AFTER SECONDS
 *
 * MODE picks the loop: a libevent event_base watching the library's one
 * descriptor and its timer, or a bare poll(2).  The scenario runs as a
 * chain of completions: open the session, open PATH (watching
 * CONTENTS_MODIFIED), take its exclusive lock, get its sequencer, then
 * write a counter and read it back every 50 ms, printing "write N ...";
 * it stops AFTER writes after a MASTER_FAILOVER event (or at SECONDS), then
 * checks the lock, the sequencer, a compare-and-set that must fail, a
 * blocking call that must be refused, runs the other async calls
 * (set-sequencer, set-ACL, elect, leader, readdir, poison: "extras ..."),
 * releases, closes the handle and prints "done ...".  Every callback must run on the main thread, inside
 * chubby_process, and the library must start no thread.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include <chubby/chubby.h>

static chubby_client *cl;
static chubby_handle *h;
static pthread_t main_thread;
static bool in_process, stop, use_libevent;
static int failovers, contents_events, wrong_thread, outside_process;
static int writes, failed, after_fo, read_ok, read_bad, after;
static uint64_t sid, deadline, next_write; /* 0: no write due */
static void *seq0;
static size_t len0;
static int lock_mode, seq_same, seq_current, cas_status, blocking_status, final_rc = 1;
static int early_status = -1, early_after_session, session_up;
static struct event_base *base;
static struct event *fd_ev, *tm_ev, *app_ev;
static const char *path_arg;

static void
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
nthreads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Every callback: on the application's thread, inside chubby_process. */
static void
where(void)
{
	if (!pthread_equal(pthread_self(), main_thread))
		wrong_thread++;
	if (!in_process)
		outside_process++;
}

static void
fatal(const char *what, const struct chubby_result *r)
{
	say("fail %s %s %s", what, chubby_status_name(r->status), r->message);
	stop = true;
}

static void on_write(chubby_client *c, const struct chubby_result *r, void *arg);
static void on_finish_stat(chubby_client *c, const struct chubby_result *r, void *arg);

static void
queue_fail(const char *what, int rc)
{
	say("fail %s: not queued: %s %s", what, chubby_status_name(rc), chubby_last_error());
	stop = true;
}

static void
write_next(void)
{
	char buf[32];
	int rc;

	next_write = 0;
	if (now_ms() >= deadline || (failovers > 0 && after_fo >= after)) {
		rc = chubby_get_stat_async(h, on_finish_stat, NULL);
		if (rc != CHUBBY_OK)
			queue_fail("stat", rc);
		return;
	}
	snprintf(buf, sizeof buf, "%d", writes + 1);
	if ((rc = chubby_set_contents_async(h, buf, strlen(buf), on_write, NULL)) != CHUBBY_OK)
		queue_fail("write", rc);
}

static void
on_read(chubby_client *c, const struct chubby_result *r, void *arg)
{
	char want[32];

	(void)c;
	(void)arg;
	where();
	snprintf(want, sizeof want, "%d", writes);
	if (r->status == CHUBBY_OK && r->len == strlen(want) && memcmp(r->data, want, r->len) == 0 &&
	    ((const char *)r->data)[r->len] == '\0' && r->stat != NULL)
		read_ok++;
	else
		read_bad++;
	next_write = now_ms() + 50;
}

static void
on_write(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)c;
	(void)arg;
	where();
	if (r->status != CHUBBY_OK) {
		failed++;
		say("write failed %s %s", chubby_status_name(r->status), r->message);
		next_write = now_ms() + 50;
		return;
	}
	writes++;
	if (failovers > 0)
		after_fo++;
	say("write %d failovers=%d gen=%" PRIu64, writes, failovers,
	    r->stat != NULL ? r->stat->content_gen : 0);
	if ((rc = chubby_get_contents_async(h, on_read, NULL)) != CHUBBY_OK)
		queue_fail("read", rc);
}

/* Queued just before chubby_close from a callback: cancelled by it. */

static void
on_cancelled(chubby_client *c, const struct chubby_result *r, void *arg)
{
	(void)c;
	(void)arg;
	where();
	say("cancelled %s in_close_from_callback=%d", chubby_status_name(r->status), cl == NULL);
}

static void
on_closed(chubby_client *c, const struct chubby_result *r, void *arg)
{
	char other[1100];
	int rc;

	(void)arg;
	where();
	say("done writes=%d failed=%d after_failover=%d failovers=%d reads_ok=%d reads_bad=%d "
	    "contents_events=%d same_session=%d same_seq=%d seq_current=%d lock_mode=%d cas=%s "
	    "blocking=%s close=%s state=%d early=%s early_after_session=%d wrong_thread=%d "
	    "outside_process=%d threads=%d",
	    writes, failed, after_fo, failovers, read_ok, read_bad, contents_events,
	    chubby_session_id(c) == sid, seq_same, seq_current, lock_mode,
	    chubby_status_name(cas_status), chubby_status_name(blocking_status),
	    chubby_status_name(r->status), chubby_session_state(c),
	    early_status < 0 ? "none" : chubby_status_name(early_status), early_after_session,
	    wrong_thread, outside_process, nthreads());
	h = NULL;
	final_rc = 0;
	stop = true;
	/* Close from a callback with a call queued: the call's completion
	 * must run once, with E_CANCELLED, and the client be freed when
	 * chubby_process returns. */
	snprintf(other, sizeof other, "%s-other", path_arg);
	rc = chubby_handle_open_async(c, other, CHUBBY_O_READ | CHUBBY_O_WRITE | CHUBBY_O_CREATE,
	    NULL, on_cancelled, NULL);
	if (rc != CHUBBY_OK)
		queue_fail("open other", rc);
	cl = NULL;
	chubby_close(c);
}

static void
on_released(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)c;
	(void)arg;
	where();
	if (r->status != CHUBBY_OK)
		return fatal("release", r);
	if ((rc = chubby_handle_close_async(h, on_closed, NULL)) != CHUBBY_OK)
		queue_fail("close", rc);
}

/*
 * The rest of the async calls, chained between the compare-and-set and
 * the release: set a sequencer, set the ACLs (and an unknown flag refused
 * at once), elect a leader on PATH-leader, ask who leads, list the
 * directory, poison the leader's handle (a read on it then refused at
 * once), step down by closing it, and ask again (nobody now) with a
 * watch handle.  Printed as one "extras" line.
 */
static chubby_handle *eh, *dh;
static int setseq_st = -1, acl_st = -1, acl_bad_st = -1, elect_st = -1, leader_st = -1,
    readdir_st = -1, poison_st = -1, poisoned_read_st = -1, leader2_st = -1, nnames = -1;
static int names_ok, leader_watch, usurp_st = -1, usurp_handle = -1, elect_nl_st = -1;
static uint64_t usurp_ms;
static char leader_id[128] = "?", leader2_id[128] = "?", ident[64];
static char leader_path[1100], dir_path[1100];

static const char *const acl_open[3] = {"", "", ""};

static void
say_extras(void)
{
	say("extras setseq=%s acl=%s acl_badflags=%s elect=%s leader=%s:%s readdir=%s nnames=%d "
	    "names_ok=%d poison=%s poisoned_read=%s leader_after=%s:%s watch=%d usurp=%s "
	    "usurp_handle=%d usurp_waited=%d elect_newline=%s",
	    chubby_status_name(setseq_st), chubby_status_name(acl_st),
	    chubby_status_name(acl_bad_st), chubby_status_name(elect_st),
	    chubby_status_name(leader_st), leader_id, chubby_status_name(readdir_st), nnames,
	    names_ok, chubby_status_name(poison_st), chubby_status_name(poisoned_read_st),
	    chubby_status_name(leader2_st), leader2_id, leader_watch,
	    chubby_status_name(usurp_st), usurp_handle, usurp_ms >= 400,
	    chubby_status_name(elect_nl_st));
}

static void
on_watch_closed(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)c;
	(void)arg;
	where();
	if (r->status != CHUBBY_OK)
		return fatal("close watch", r);
	say_extras();
	if ((rc = chubby_release_async(h, on_released, NULL)) != CHUBBY_OK)
		queue_fail("release", rc);
}

static void
copy_id(char *dst, size_t n, const struct chubby_result *r)
{
	if (r->status != CHUBBY_OK)
		snprintf(dst, n, "?");
	else if (r->data == NULL)
		snprintf(dst, n, "none");
	else
		snprintf(dst, n, "%.*s", (int)r->len, (const char *)r->data);
}

static void
on_leader_after(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)c;
	(void)arg;
	where();
	leader2_st = r->status;
	copy_id(leader2_id, sizeof leader2_id, r);
	if (r->status != CHUBBY_OK || r->handle == NULL)
		return fatal("leader after", r);
	leader_watch = 1;
	if ((rc = chubby_handle_close_async(r->handle, on_watch_closed, NULL)) != CHUBBY_OK)
		queue_fail("close watch", rc);
}

static void
on_eh_closed(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)arg;
	where();
	eh = NULL;
	if (r->status != CHUBBY_OK)
		return fatal("close leader", r);
	if ((rc = chubby_leader_async(c, leader_path, true, on_leader_after, NULL)) != CHUBBY_OK)
		queue_fail("leader after", rc);
}

static void
on_never(chubby_client *c, const struct chubby_result *r, void *arg)
{
	(void)c;
	(void)arg;
	fatal("a refused call's completion ran", r);
}

static void
on_poisoned(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)c;
	(void)arg;
	where();
	poison_st = r->status;
	poisoned_read_st = chubby_get_contents_async(eh, on_never, NULL);
	if ((rc = chubby_handle_close_async(eh, on_eh_closed, NULL)) != CHUBBY_OK)
		queue_fail("close leader", rc);
}

static void
on_dirclosed(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)c;
	(void)arg;
	where();
	dh = NULL;
	if (r->status != CHUBBY_OK)
		return fatal("close dir", r);
	if ((rc = chubby_poison_async(eh, on_poisoned, NULL)) != CHUBBY_OK)
		queue_fail("poison", rc);
}

static void
on_readdir(chubby_client *c, const struct chubby_result *r, void *arg)
{
	const char *pbase = strrchr(path_arg, '/') + 1, *lbase = strrchr(leader_path, '/') + 1;
	int seen = 0, rc;

	(void)c;
	(void)arg;
	where();
	readdir_st = r->status;
	nnames = (int)r->nnames;
	for (size_t i = 0; i < r->nnames; i++) {
		if (strcmp(r->names[i], pbase) == 0)
			seen |= 1;
		if (strcmp(r->names[i], lbase) == 0)
			seen |= 2;
		if (i > 0 && strcmp(r->names[i - 1], r->names[i]) >= 0)
			seen |= 4; /* not sorted */
	}
	names_ok = seen == 3;
	if ((rc = chubby_handle_close_async(dh, on_dirclosed, NULL)) != CHUBBY_OK)
		queue_fail("close dir", rc);
}

static void
on_diropen(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)c;
	(void)arg;
	where();
	if (r->status != CHUBBY_OK)
		return fatal("open dir", r);
	dh = r->handle;
	if ((rc = chubby_readdir_async(dh, on_readdir, NULL)) != CHUBBY_OK)
		queue_fail("readdir", rc);
}

static void
on_leader(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)arg;
	where();
	leader_st = r->status;
	copy_id(leader_id, sizeof leader_id, r);
	if (r->handle != NULL)
		leader_watch = -1; /* no watch was asked for */
	if ((rc = chubby_handle_open_async(c, dir_path, CHUBBY_O_READ, NULL, on_diropen, NULL)) !=
	    CHUBBY_OK)
		queue_fail("open dir", rc);
}

/* A second election while EH leads: its acquire times out, the chain
 * closes the handle it opened, and the leader record is left alone (the
 * leader query after it still names the first). */
static void
on_usurp(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)arg;
	where();
	usurp_st = r->status;
	usurp_handle = r->handle != NULL;
	usurp_ms = now_ms() - usurp_ms;
	if ((rc = chubby_leader_async(c, leader_path, false, on_leader, NULL)) != CHUBBY_OK)
		queue_fail("leader", rc);
}

static void
on_elected(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)arg;
	where();
	elect_st = r->status;
	if (r->status != CHUBBY_OK || r->handle == NULL)
		return fatal("elect", r);
	eh = r->handle;
	/* The identity is the record's first line: a newline is refused at once. */
	elect_nl_st = chubby_elect_async(c, leader_path, "two\nlines", 500, on_never, NULL);
	usurp_ms = now_ms();
	if ((rc = chubby_elect_async(c, leader_path, "usurper", 500, on_usurp, NULL)) != CHUBBY_OK)
		queue_fail("usurp", rc);
}

static void
on_acl(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)arg;
	where();
	acl_st = r->status;
	/* An unknown flag: refused at once, its completion never to run. */
	acl_bad_st = chubby_set_acl_flags_async(h, acl_open, 0x100, on_never, NULL);
	snprintf(ident, sizeof ident, "leader-%s", use_libevent ? "libevent" : "poll");
	if ((rc = chubby_elect_async(c, leader_path, ident, 10000, on_elected, NULL)) != CHUBBY_OK)
		queue_fail("elect", rc);
}

static void
on_setseq(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)c;
	(void)arg;
	where();
	setseq_st = r->status;
	if ((rc = chubby_set_acl_async(h, acl_open, on_acl, NULL)) != CHUBBY_OK)
		queue_fail("set acl", rc);
}

static void
on_cas(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)c;
	(void)arg;
	where();
	cas_status = r->status;
	snprintf(leader_path, sizeof leader_path, "%s-leader", path_arg);
	snprintf(dir_path, sizeof dir_path, "%.*s", (int)(strrchr(path_arg, '/') - path_arg),
	    path_arg);
	if ((rc = chubby_set_sequencer_async(h, seq0, len0, on_setseq, NULL)) != CHUBBY_OK)
		queue_fail("set sequencer", rc);
}

static void
on_check(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)c;
	(void)arg;
	where();
	seq_current = r->status == CHUBBY_OK;
	/* A stale generation: the master must refuse it. */
	if ((rc = chubby_set_contents_if_async(h, "x", 1, 1, on_cas, NULL)) != CHUBBY_OK)
		queue_fail("cas", rc);
}

static void
on_seq_after(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)arg;
	where();
	if (r->status != CHUBBY_OK)
		return fatal("sequencer after", r);
	seq_same = r->len == len0 && memcmp(r->data, seq0, len0) == 0;
	if ((rc = chubby_check_sequencer_async(c, r->data, r->len, on_check, NULL)) != CHUBBY_OK)
		queue_fail("check sequencer", rc);
}

static void
on_finish_stat(chubby_client *c, const struct chubby_result *r, void *arg)
{
	struct chubby_stat st;
	int rc;

	(void)c;
	(void)arg;
	where();
	if (r->status != CHUBBY_OK || r->stat == NULL)
		return fatal("stat after", r);
	lock_mode = r->stat->lock_mode;
	/* Blocking calls have no place on an async client. */
	blocking_status = chubby_get_stat(h, &st);
	if ((rc = chubby_get_sequencer_async(h, on_seq_after, NULL)) != CHUBBY_OK)
		queue_fail("sequencer after", rc);
}

static void
on_seq(chubby_client *c, const struct chubby_result *r, void *arg)
{
	(void)c;
	(void)arg;
	where();
	if (r->status != CHUBBY_OK || r->len == 0)
		return fatal("sequencer", r);
	seq0 = malloc(r->len);
	memcpy(seq0, r->data, r->len);
	len0 = r->len;
	say("locked session=%" PRIu64 " seqlen=%zu", sid, len0);
	write_next();
}

static void
on_locked(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)c;
	(void)arg;
	where();
	if (r->status != CHUBBY_OK)
		return fatal("acquire", r);
	if ((rc = chubby_get_sequencer_async(h, on_seq, NULL)) != CHUBBY_OK)
		queue_fail("sequencer", rc);
}

static void
on_opened(chubby_client *c, const struct chubby_result *r, void *arg)
{
	int rc;

	(void)c;
	(void)arg;
	where();
	if (r->status != CHUBBY_OK || r->handle == NULL)
		return fatal("open", r);
	h = r->handle;
	say("opened %s created=%d", chubby_handle_path(h), r->created);
	if ((rc = chubby_acquire_async(h, CHUBBY_LOCK_EXCLUSIVE, 10000, on_locked, NULL)) !=
	    CHUBBY_OK)
		queue_fail("acquire", rc);
}

static void
on_session(chubby_client *c, int status, const char *message, void *arg)
{
	struct chubby_open_args oa;
	int rc;

	(void)arg;
	where();
	if (status != CHUBBY_OK) {
		say("fail session %s %s", chubby_status_name(status), message);
		stop = true;
		return;
	}
	sid = chubby_session_id(c);
	session_up = 1;
	say("session %" PRIu64 " threads=%d", sid, nthreads());
	memset(&oa, 0, sizeof oa);
	oa.event_mask = CHUBBY_EVMASK(CHUBBY_EV_CONTENTS_MODIFIED);
	rc = chubby_handle_open_async(c, path_arg,
	    CHUBBY_O_READ | CHUBBY_O_WRITE | CHUBBY_O_CREATE, &oa, on_opened, NULL);
	if (rc != CHUBBY_OK)
		queue_fail("open", rc);
}

/* A call made before the session was up: it waits for it. */
static void
on_early(chubby_client *c, const struct chubby_result *r, void *arg)
{
	(void)c;
	(void)arg;
	where();
	early_status = r->status;
	early_after_session = session_up;
}

static void
on_event(chubby_client *c, const struct chubby_event *ev, void *arg)
{
	(void)c;
	(void)arg;
	where();
	if (ev->type == CHUBBY_EV_MASTER_FAILOVER) {
		failovers++;
		say("event MASTER_FAILOVER");
	} else if (ev->type == CHUBBY_EV_CONTENTS_MODIFIED && ev->handle == h && h != NULL) {
		contents_events++;
	} else {
		say("event %d %s", ev->type, ev->path ? ev->path : "-");
	}
}

static void
process(int events)
{
	in_process = true;
	chubby_process(cl, events);
	in_process = false;
	if (cl == NULL)
		return; /* closed from a callback */
	if (next_write != 0 && now_ms() >= next_write && !stop)
		write_next();
}

/* ---- the libevent loop ---- */

static void rearm(void);

static void
fd_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)arg;
	process((what & EV_READ) ? CHUBBY_POLL_READ : 0);
	rearm();
}

static void
tm_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	process(0);
	rearm();
}

/* Asks the library what to watch after every turn, as ZooKeeper's C
 * client asks zookeeper_interest. */
static void
rearm(void)
{
	int fd, events, timeout;
	uint64_t now = now_ms();

	if (stop) {
		event_base_loopbreak(base);
		return;
	}
	if (chubby_interest(cl, &fd, &events, &timeout) != CHUBBY_OK) {
		say("fail interest %s", chubby_last_error());
		stop = true;
		event_base_loopbreak(base);
		return;
	}
	if (fd_ev == NULL) {
		fd_ev = event_new(base, fd, EV_READ | EV_PERSIST, fd_cb, NULL);
		event_add(fd_ev, NULL);
	}
	if (next_write != 0) {
		int app = next_write > now ? (int)(next_write - now) : 0;
		if (timeout < 0 || app < timeout)
			timeout = app;
	}
	if (timeout >= 0) {
		struct timeval tv = {timeout / 1000, (timeout % 1000) * 1000};
		evtimer_add(tm_ev, &tv);
	} else {
		evtimer_del(tm_ev);
	}
}

static void
run_libevent(void)
{
	base = event_base_new();
	tm_ev = evtimer_new(base, tm_cb, NULL);
	(void)app_ev;
	rearm();
	event_base_dispatch(base);
	if (fd_ev != NULL)
		event_free(fd_ev);
	event_free(tm_ev);
	event_base_free(base);
}

/* ---- the bare poll(2) loop ---- */

static void
run_poll(void)
{
	while (!stop) {
		struct pollfd pfd;
		int fd, events, timeout, n;
		uint64_t now = now_ms();

		if (chubby_interest(cl, &fd, &events, &timeout) != CHUBBY_OK) {
			say("fail interest %s", chubby_last_error());
			return;
		}
		if (next_write != 0) {
			int app = next_write > now ? (int)(next_write - now) : 0;
			if (timeout < 0 || app < timeout)
				timeout = app;
		}
		pfd.fd = fd;
		pfd.events = (short)(((events & CHUBBY_POLL_READ) ? POLLIN : 0) |
		    ((events & CHUBBY_POLL_WRITE) ? POLLOUT : 0));
		pfd.revents = 0;
		n = poll(&pfd, 1, timeout);
		if (n < 0 && errno != EINTR) {
			say("fail poll %s", strerror(errno));
			return;
		}
		process((n > 0 && (pfd.revents & POLLIN)) ? CHUBBY_POLL_READ : 0);
	}
}

int
main(int argc, char **argv)
{
	struct chubby_options opt;
	int i = 1, rc;

	memset(&opt, 0, sizeof opt);
	if (argc > 2 && strcmp(argv[1], "-C") == 0) {
		opt.cell = argv[2];
		i = 3;
	}
	if (argc - i != 4) {
		fprintf(stderr, "usage: libchubby_async [-C CELL] libevent|poll PATH AFTER SECONDS\n");
		return 2;
	}
	use_libevent = strcmp(argv[i], "libevent") == 0;
	path_arg = argv[i + 1];
	after = atoi(argv[i + 2]);
	deadline = now_ms() + 1000ull * (uint64_t)atoi(argv[i + 3]);
	main_thread = pthread_self();
	opt.name = "libchubby_async";
	opt.on_event = on_event;
	rc = chubby_open_async(&opt, NULL, on_session, NULL, &cl);
	if (rc != CHUBBY_OK) {
		say("fail open_async %s %s", chubby_status_name(rc), chubby_last_error());
		return 1;
	}
	say("open_async threads=%d", nthreads());
	/* Not a sequencer: the master must say so, once there is a session. */
	rc = chubby_check_sequencer_async(cl, "garbage", 7, on_early, NULL);
	if (rc != CHUBBY_OK)
		say("fail early call: %s %s", chubby_status_name(rc), chubby_last_error());
	if (use_libevent)
		run_libevent();
	else
		run_poll();
	chubby_close(cl); /* NULL if a callback closed it */
	free(seq0);
	say("closed threads=%d", nthreads());
	return final_rc;
}
