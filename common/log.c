/* log.c: leveled log lines to stderr, syslog or a caller's callback. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "logfmt.h"

int log_level_current = LOG_LVL_INFO;

static const char *log_ident = "chubby";
static int log_syslog;
static log_sink_fn log_sink;
static void *log_sink_arg;
static FILE *log_file;        /* NULL: standard error */
static char *log_file_path;
static int log_format = LOG_FMT_TEXT;
static unsigned log_replica; /* 0: not a replica */

static const char *const level_names[] = {"error", "warn", "info", "debug"};
/* In LOG_FMT_* order. */
static const char *const format_names[] = {"text", "json"};

void
log_init(const char *ident, int level)
{
	if (ident != NULL)
		log_ident = ident;
	if (level >= LOG_LVL_ERROR && level <= LOG_LVL_DEBUG)
		log_level_current = level;
}

void
log_use_syslog(int on)
{
	if (on && !log_syslog)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!on && log_syslog)
		closelog();
	log_syslog = on;
}

void
log_set_format(int format)
{
	if (format == LOG_FMT_TEXT || format == LOG_FMT_JSON)
		log_format = format;
}

void
log_set_replica(unsigned id)
{
	log_replica = id;
}

int
log_format_parse(const char *name)
{
	for (int i = 0; i < (int)(sizeof format_names / sizeof format_names[0]); i++)
		if (strcasecmp(name, format_names[i]) == 0)
			return i;
	return -1;
}

void
log_set_sink(log_sink_fn fn, void *arg)
{
	log_sink = fn;
	log_sink_arg = arg;
}

/* Opens PATH for appending, line-buffered. */
static FILE *
log_file_open(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	FILE *f;

	if (fd < 0) {
		snprintf(err, errlen, "cannot open log file %s: %s", path, strerror(errno));
		return NULL;
	}
	if ((f = fdopen(fd, "a")) == NULL) {
		snprintf(err, errlen, "cannot open log file %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	return f;
}

int
log_use_file(const char *path, char *err, size_t errlen)
{
	FILE *f = NULL;
	char *copy = NULL;

	if (path != NULL) {
		if ((copy = strdup(path)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if ((f = log_file_open(path, err, errlen)) == NULL) {
			free(copy);
			return -1;
		}
	}
	if (log_file != NULL)
		fclose(log_file);
	free(log_file_path);
	log_file = f;
	log_file_path = copy;
	return 0;
}

int
log_reopen(char *err, size_t errlen)
{
	FILE *f;

	if (log_file_path == NULL)
		return 0;
	/* The new file first: if it cannot be opened, keep writing to the old. */
	if ((f = log_file_open(log_file_path, err, errlen)) == NULL)
		return -1;
	fclose(log_file);
	log_file = f;
	return 0;
}

int
log_level_parse(const char *name)
{
	for (int i = 0; i <= LOG_LVL_DEBUG; i++)
		if (strcasecmp(name, level_names[i]) == 0)
			return i;
	if (strcasecmp(name, "warning") == 0)
		return LOG_LVL_WARN;
	return -1;
}

const char *
log_level_name(int level)
{
	if (level < LOG_LVL_ERROR || level > LOG_LVL_DEBUG)
		return "?";
	return level_names[level];
}

void
log_emitv(int level, const char *fmt, va_list ap)
{
	char line[2048];

	vsnprintf(line, sizeof line, fmt, ap);
	if (log_sink != NULL) {
		log_sink(level, line, log_sink_arg);
		return;
	}
	if (log_syslog) {
		static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
		syslog(prio[level < 0 ? 0 : level > 3 ? 3 : level], "%s", line);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (log_format == LOG_FMT_JSON) {
		char *j = logfmt_json((int64_t)ts.tv_sec, ts.tv_nsec, log_ident, log_replica,
		    log_level_name(level), line);
		/* Out of memory: the text line below rather than nothing. */
		if (j != NULL) {
			fputs(j, log_file != NULL ? log_file : stderr);
			free(j);
			return;
		}
	}
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(log_file != NULL ? log_file : stderr, "%s.%03ldZ %s %s: %s\n", stamp,
	    ts.tv_nsec / 1000000L, log_ident, log_level_name(level), line);
}

void
log_emit(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emitv(level, fmt, ap);
	va_end(ap);
}
