/* bgsnap.c: work over the applied state in a forked child, read back
 * through a pipe. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chubby/chubby.h>

#include "bgsnap.h"
#include "xmalloc.h"

struct bgsnap {
	pid_t pid;
	int fd;
	struct event *ev;
	bgsnap_done_fn done;
	void *arg;
	uint8_t *buf; /* what came: an 8-byte length, then the bytes */
	size_t len, cap;
};

/* In the child: writes all of P, or fails. */
static int
bgsnap_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int
bgsnap_work_snapshot(const struct cell *c, uint8_t **out, size_t *len)
{
	return cell_snapshot(c, CELL_SNAP_REPLICA, out, len);
}

int
bgsnap_work_digest(const struct cell *c, uint8_t **out, size_t *len)
{
	uint64_t d = ns_digest(cell_ns(c));

	*out = xmalloc(8);
	for (int i = 0; i < 8; i++)
		(*out)[i] = (uint8_t)(d >> (56 - 8 * i));
	*len = 8;
	return CHUBBY_OK;
}

uint64_t
bgsnap_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The child: only the work and write(2), then _exit (no atexit handlers,
 * no stdio flush: those are the parent's).  Only this thread exists here;
 * the others' locks are never taken. */
static void
bgsnap_child(int fd, const struct cell *c, bgsnap_work_fn work)
{
	uint8_t *data = NULL, hdr[8];
	size_t len = 0;

	if (work(c, &data, &len) != CHUBBY_OK)
		_exit(2);
	for (int i = 0; i < 8; i++)
		hdr[i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	if (bgsnap_write_all(fd, hdr, sizeof hdr) != 0 || bgsnap_write_all(fd, data, len) != 0)
		_exit(3);
	_exit(0);
}

static void
bgsnap_reap(struct bgsnap *b, int *wstatus)
{
	int st = 0;

	while (waitpid(b->pid, &st, 0) < 0 && errno == EINTR)
		;
	if (wstatus != NULL)
		*wstatus = st;
	b->pid = -1;
}

static void
bgsnap_free(struct bgsnap *b)
{
	if (b->ev != NULL)
		event_free(b->ev);
	if (b->fd >= 0)
		close(b->fd);
	free(b->buf);
	free(b);
}

static void
bgsnap_readable(evutil_socket_t fd, short what, void *arg)
{
	struct bgsnap *b = arg;
	char why[160];
	uint64_t want = 0;
	int st;

	(void)what;
	for (;;) {
		ssize_t n;

		if (b->cap - b->len < 65536) {
			b->cap = b->cap ? 2 * b->cap : 1 << 20;
			b->buf = xrealloc(b->buf, b->cap);
		}
		n = read(fd, b->buf + b->len, b->cap - b->len);
		if (n > 0) {
			b->len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* more later */
		break; /* end of file (the child exited) or an error */
	}
	bgsnap_reap(b, &st);
	if (b->len >= 8)
		want = bgsnap_u64(b->buf);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || b->len < 8 || want != b->len - 8) {
		snprintf(why, sizeof why, "the snapshot child %s %d after %zu bytes",
		    WIFEXITED(st) ? "exited with" : "was killed by signal",
		    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), b->len);
		b->done(CHUBBY_E_INTERNAL, NULL, 0, why, b->arg);
	} else {
		uint8_t *data = b->buf;
		memmove(data, data + 8, (size_t)want);
		b->buf = NULL;
		b->done(CHUBBY_OK, data, (size_t)want, NULL, b->arg);
	}
	bgsnap_free(b);
}

struct bgsnap *
bgsnap_start(struct event_base *base, const struct cell *c, bgsnap_work_fn work,
    bgsnap_done_fn done, void *arg, char *err, size_t errlen)
{
	struct bgsnap *b;
	int p[2];

	if (pipe(p) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return NULL;
	}
	b = xcalloc(1, sizeof *b);
	b->done = done;
	b->arg = arg;
	b->fd = p[0];
	b->pid = fork();
	if (b->pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		free(b);
		return NULL;
	}
	if (b->pid == 0) {
		close(p[0]);
		bgsnap_child(p[1], c, work);
	}
	close(p[1]);
	if (fcntl(b->fd, F_SETFL, O_NONBLOCK) != 0 || fcntl(b->fd, F_SETFD, FD_CLOEXEC) != 0 ||
	    (b->ev = event_new(base, b->fd, EV_READ | EV_PERSIST, bgsnap_readable, b)) == NULL ||
	    event_add(b->ev, NULL) != 0) {
		snprintf(err, errlen, "cannot watch the snapshot child's pipe");
		bgsnap_cancel(b);
		return NULL;
	}
	return b;
}

void
bgsnap_cancel(struct bgsnap *b)
{
	if (b == NULL)
		return;
	if (b->pid > 0) {
		kill(b->pid, SIGKILL);
		bgsnap_reap(b, NULL);
	}
	bgsnap_free(b);
}
