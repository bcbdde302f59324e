/*
 * session.c: lockctl's libchubby session: opening it on first need, the
 * queue that carries the library's events to the main thread, the wait
 * that wakes on events, signals and input, full names from relative ones,
 * and the handles a session keeps open between commands.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <chubby/chubby.h>

#include "aclient.h"
#include "lockctl.h"
#include "mp.h"
#include "protocol.h"
#include "xmalloc.h"

/*
 * The event queue.  libchubby calls on_event from its own thread; writing
 * to stdout there could block that thread on a slow reader and starve the
 * session's KeepAlives, so the callback only queues a copy and writes one
 * byte to a self-pipe that lockctl_wait() polls.  Signal handlers write to
 * the same pipe (write(2) is async-signal-safe).
 */
struct evq_item {
	struct evq_item *next;
	struct lockctl_event ev;
};
static pthread_mutex_t evq_mu = PTHREAD_MUTEX_INITIALIZER;
static struct evq_item *evq_head, *evq_tail;
static int wake_pipe[2] = {-1, -1};
static volatile sig_atomic_t got_signal;

static void
wake_init(void)
{
	if (wake_pipe[0] >= 0)
		return;
	if (pipe(wake_pipe) != 0) {
		wake_pipe[0] = wake_pipe[1] = -1;
		return;
	}
	for (int i = 0; i < 2; i++) {
		fcntl(wake_pipe[i], F_SETFL, fcntl(wake_pipe[i], F_GETFL) | O_NONBLOCK);
		fcntl(wake_pipe[i], F_SETFD, FD_CLOEXEC);
	}
}

static void
wake_up(void)
{
	int saved = errno;
	char b = 1;

	/* A full pipe already wakes the reader: losing this byte is fine. */
	if (wake_pipe[1] >= 0 && write(wake_pipe[1], &b, 1) < 0)
		(void)0;
	errno = saved;
}

static void
on_signal(int sig)
{
	/* The second one is for a lockctl stuck in a blocking call (a lock
	 * that does not come): leave now; the cell ends the session when its
	 * lease runs out. */
	if (got_signal)
		_exit(128 + sig);
	got_signal = 1;
	wake_up();
}

void
lockctl_signals(void)
{
	struct sigaction sa;

	wake_init();
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int
lockctl_signalled(void)
{
	return got_signal != 0;
}

uint64_t
lockctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
on_event(chubby_client *c, const struct chubby_event *ev, void *arg)
{
	struct evq_item *it;

	(void)c;
	(void)arg;
	/* Never abort on the library's thread: an event lost to OOM is lost. */
	if ((it = calloc(1, sizeof *it)) == NULL)
		return;
	it->ev.type = ev->type;
	it->ev.handle = ev->handle;
	it->ev.has_gen = ev->has_content_gen;
	it->ev.gen = ev->content_gen;
	if (ev->path != NULL && (it->ev.path = strdup(ev->path)) == NULL) {
		free(it);
		return;
	}
	pthread_mutex_lock(&evq_mu);
	if (evq_tail != NULL)
		evq_tail->next = it;
	else
		evq_head = it;
	evq_tail = it;
	pthread_mutex_unlock(&evq_mu);
	wake_up();
}

int
lockctl_event_pop(struct lockctl_event *ev)
{
	struct evq_item *it;

	pthread_mutex_lock(&evq_mu);
	if ((it = evq_head) != NULL) {
		evq_head = it->next;
		if (evq_head == NULL)
			evq_tail = NULL;
	}
	pthread_mutex_unlock(&evq_mu);
	if (it == NULL)
		return 0;
	*ev = it->ev;
	free(it);
	return 1;
}

const char *
lockctl_event_name(int type)
{
	switch (type) {
	case CHUBBY_EV_CONTENTS_MODIFIED: return "CONTENTS_MODIFIED";
	case CHUBBY_EV_CHILD_ADDED: return "CHILD_ADDED";
	case CHUBBY_EV_CHILD_REMOVED: return "CHILD_REMOVED";
	case CHUBBY_EV_CHILD_MODIFIED: return "CHILD_MODIFIED";
	case CHUBBY_EV_LOCK_ACQUIRED: return "LOCK_ACQUIRED";
	case CHUBBY_EV_CONFLICTING_LOCK: return "CONFLICTING_LOCK";
	case CHUBBY_EV_HANDLE_INVALID: return "HANDLE_INVALID";
	case CHUBBY_EV_MASTER_FAILOVER: return "MASTER_FAILOVER";
	case CHUBBY_EV_JEOPARDY: return "JEOPARDY";
	case CHUBBY_EV_SAFE: return "SAFE";
	case CHUBBY_EV_EXPIRED: return "EXPIRED";
	default: return "UNKNOWN";
	}
}

void
lockctl_event_print(struct lockctl *lc, const struct lockctl_event *ev)
{
	/* A watch's handle: the watch says what to print (cmd-watch.c). */
	if (lockctl_watch_event(lc, ev) >= 0)
		return;
	lockctl_event_print_h(lc, ev, NULL);
}

void
lockctl_event_print_h(struct lockctl *lc, const struct lockctl_event *ev, chubby_handle *ch)
{
	struct lockctl_buf b = {NULL, 0, 0};
	struct chubby_stat st;
	void *data = NULL;
	size_t len = 0;
	int have_gen = ev->has_gen, have_data = 0;
	uint64_t gen = ev->gen;

	/* Contents asked for: read now (from the cache when it is valid), so
	 * they may be newer than the event; the generation printed is then
	 * theirs, so that the two always go together. */
	if (ch != NULL && ev->handle == ch && ev->type == CHUBBY_EV_CONTENTS_MODIFIED &&
	    chubby_get_contents(ch, &data, &len, &st) == CHUBBY_OK) {
		have_data = 1;
		have_gen = 1;
		gen = st.content_gen;
	}
	if (lc->json) {
		struct json j;
		json_init(&j);
		json_obj_begin(&j);
		json_kv_str(&j, "event", lockctl_event_name(ev->type));
		json_kv_uint(&j, "type", (uint64_t)ev->type);
		if (ev->path != NULL)
			json_kv_str(&j, "path", ev->path);
		if (have_gen)
			json_kv_uint(&j, "content_generation", gen);
		if (have_data)
			lockctl_json_contents(&j, "contents", data != NULL ? data : "", len);
		json_obj_end(&j);
		if (json_text(&j) != NULL)
			lockctl_buf_printf(&b, "%s\n", json_text(&j));
		json_free(&j);
	} else {
		lockctl_buf_printf(&b, "event %s", lockctl_event_name(ev->type));
		if (ev->path != NULL) {
			lockctl_buf_add(&b, " ", 1);
			lockctl_buf_quote(&b, ev->path, strlen(ev->path));
		}
		if (have_gen)
			lockctl_buf_printf(&b, " content_generation=%llu", (unsigned long long)gen);
		if (have_data) {
			lockctl_buf_add(&b, " contents=", 10);
			lockctl_buf_quote(&b, data != NULL ? data : "", len);
		}
		lockctl_buf_add(&b, "\n", 1);
	}
	chubby_free(data);
	if (b.len > 0)
		lockctl_emit(b.p, b.len);
	lockctl_buf_free(&b);
}

int
lockctl_wait(int fd, int timeout_ms)
{
	struct pollfd p[2];
	int n = 0, r, mask = 0;
	char drain[64];

	wake_init();
	if (got_signal)
		return LOCKCTL_WAKE_SIGNAL;
	pthread_mutex_lock(&evq_mu);
	if (evq_head != NULL)
		mask |= LOCKCTL_WAKE_EVENT;
	pthread_mutex_unlock(&evq_mu);
	if (mask != 0)
		return mask;
	p[n].fd = wake_pipe[0];
	p[n++].events = POLLIN;
	if (fd >= 0) {
		p[n].fd = fd;
		p[n++].events = POLLIN;
	}
	r = poll(p, (nfds_t)n, timeout_ms);
	if (r < 0)
		return errno == EINTR && got_signal ? LOCKCTL_WAKE_SIGNAL : 0;
	if (r == 0)
		return LOCKCTL_WAKE_TIMEOUT;
	if (p[0].revents != 0) {
		while (read(wake_pipe[0], drain, sizeof drain) > 0)
			;
		pthread_mutex_lock(&evq_mu);
		if (evq_head != NULL)
			mask |= LOCKCTL_WAKE_EVENT;
		pthread_mutex_unlock(&evq_mu);
		if (got_signal)
			mask |= LOCKCTL_WAKE_SIGNAL;
	}
	/* POLLHUP and POLLNVAL count as input: the read that follows sees EOF. */
	if (fd >= 0 && p[1].revents != 0)
		mask |= LOCKCTL_WAKE_INPUT;
	return mask;
}

int
lockctl_session(struct lockctl *lc)
{
	struct chubby_options o;
	chubby_client *c;
	int rc;

	if (lc->client != NULL) {
		if (lc->session_lost ||
		    chubby_session_state(lc->client) == CHUBBY_SESSION_EXPIRED) {
			lc->session_lost = 1;
			return lockctl_fail(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_SESSION_EXPIRED,
			    "the session expired; its locks and handles are gone");
		}
		return 0;
	}
	if ((rc = lockctl_need_cell(lc)) != 0)
		return rc;
	wake_init();
	memset(&o, 0, sizeof o);
	o.cell = lc->cell_arg != NULL ? lc->cell_arg : getenv("CHUBBY_CELL");
	o.cert_file = lc->spec.cert[0] != '\0' ? lc->spec.cert : NULL;
	o.key_file = lc->spec.key[0] != '\0' ? lc->spec.key : NULL;
	o.ca_file = lc->spec.ca[0] != '\0' ? lc->spec.ca : NULL;
	o.name = "lockctl";
	o.open_timeout_ms = lc->timeout_ms;
	o.call_timeout_ms = lc->timeout_ms;
	o.on_event = on_event;
	o.event_arg = lc;
	if ((rc = chubby_open(&o, &c)) != CHUBBY_OK) {
		const char *m = chubby_last_error();
		return lockctl_fail(lc, lockctl_open_exit(rc), rc, "%s%s",
		    lockctl_open_exit(rc) == LOCKCTL_EXIT_UNAVAIL ? "cell unreachable: " : "",
		    m != NULL && *m != '\0' ? m : chubby_strerror(rc));
	}
	lc->client = c;
	lc->session_lost = 0;
	return 0;
}

void
lockctl_session_close(struct lockctl *lc)
{
	struct lockctl_event ev;

	while (lc->kept != NULL)
		lockctl_kept_remove(lc, lc->kept);
	lockctl_watches_free(lc, 0); /* their handles go with the client */
	if (lc->client != NULL) {
		/* Ends the session at the master: its locks free at once. */
		chubby_close(lc->client);
		lc->client = NULL;
	}
	while (lockctl_event_pop(&ev))
		free(ev.path);
}

/* Asks the master, found hedged (locate.h: a hung replica costs a hedge,
 * not a timeout), for STATUS, which names the cell. */
static int
cell_from_status(struct lockctl *lc, char *err, size_t errlen)
{
	struct aclient *ac;
	struct wire_msg m;
	struct mp_str cell = {NULL, 0};
	int rc;

	if ((rc = aclient_open_master(&lc->spec, lc->timeout_ms, &ac, err, errlen)) != CHUBBY_OK)
		return rc;
	rc = aclient_call(ac, PROTO_OP_STATUS, NULL, 0, &m, err, errlen);
	if (rc != CHUBBY_OK) {
		aclient_close(ac);
		return rc;
	}
	if (m.res.status == CHUBBY_OK &&
	    mp_get_str(m.res.result, "cell", MP_OPTIONAL, &cell, err, errlen) == CHUBBY_OK &&
	    cell.ptr != NULL && cell.len > 0 && cell.len < sizeof lc->cellname) {
		memcpy(lc->cellname, cell.ptr, cell.len);
		lc->cellname[cell.len] = '\0';
	} else {
		rc = m.res.status != CHUBBY_OK ? (int)m.res.status : CHUBBY_E_MISSING;
		snprintf(err, errlen, "%s did not name its cell", aclient_addr(ac));
	}
	wire_msg_free(&m);
	aclient_close(ac);
	return rc;
}

int
lockctl_path(struct lockctl *lc, const char *arg, char **out)
{
	size_t n;
	char err[600];
	int rc;

	if (arg[0] == '/') {
		/* Full names go to the cell as they are: it judges them. */
		*out = xstrdup(arg);
		return 0;
	}
	if (lc->cellname[0] == '\0') {
		/*
		 * libchubby's API does not say which cell a session is in (the
		 * WELCOME it reads names it), so: the cell config's name, else
		 * the master's STATUS (cell_from_status).
		 */
		if ((rc = lockctl_need_cell(lc)) != 0)
			return rc;
		if (lc->spec.cell[0] != '\0') {
			snprintf(lc->cellname, sizeof lc->cellname, "%s", lc->spec.cell);
		} else if ((rc = cell_from_status(lc, err, sizeof err)) != CHUBBY_OK) {
			return lockctl_fail(lc, lockctl_reach_exit(rc), rc, "cannot learn the cell's name for \"%s\" (%s); give a full "
				"/ls/CELL/... name", arg, err);
		}
	}
	if (strcmp(arg, ".") == 0)
		arg = "";
	n = strlen(arg);
	/* "a/b/" names "a/b". */
	while (n > 0 && arg[n - 1] == '/')
		n--;
	if (n == 0)
		xasprintf(out, "/ls/%s", lc->cellname);
	else
		xasprintf(out, "/ls/%s/%.*s", lc->cellname, (int)n, arg);
	return 0;
}

struct lockctl_kept *
lockctl_kept_find(struct lockctl *lc, int kind, const char *path)
{
	for (struct lockctl_kept *k = lc->kept; k != NULL; k = k->next)
		if (k->kind == kind && strcmp(k->path, path) == 0)
			return k;
	return NULL;
}

void
lockctl_kept_add(struct lockctl *lc, int kind, int mode, struct chubby_handle *h,
    const char *path)
{
	struct lockctl_kept *k = xcalloc(1, sizeof *k);

	k->kind = kind;
	k->mode = mode;
	k->h = h;
	k->path = xstrdup(path);
	k->next = lc->kept;
	lc->kept = k;
}

void
lockctl_kept_remove(struct lockctl *lc, struct lockctl_kept *k)
{
	for (struct lockctl_kept **pp = &lc->kept; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	}
	free(k->path);
	free(k);
}

void
lockctl_kept_forget(struct lockctl *lc, const char *path)
{
	struct lockctl_kept *k, *next;

	for (k = lc->kept; k != NULL; k = next) {
		next = k->next;
		if ((k->kind == LOCKCTL_KEPT_HANDLE || k->kind == LOCKCTL_KEPT_FILE) &&
		    strcmp(k->path, path) == 0) {
			chubby_handle_close(k->h);
			lockctl_kept_remove(lc, k);
		}
	}
}
