/*
 * log.h: leveled logging shared by chubbyd, the tools and libchubby.
 * The level is tested before any formatting happens, so debug lines cost a
 * compare when off.  Output goes to a sink: stderr by default, a file or
 * syslog for daemons that ask, or a callback (libchubby hands log lines to
 * its user).
 */
#ifndef CHUBBY_LOG_H
#define CHUBBY_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN = 1,
	LOG_LVL_INFO = 2,
	LOG_LVL_DEBUG = 3,
};

/* How a line written to standard error or a log file looks (option
 * log_format): "TIME IDENT LEVEL: message", or one JSON object (logfmt.h).
 * Syslog and a sink get the message alone: they keep time and level. */
enum log_format {
	LOG_FMT_TEXT = 0,
	LOG_FMT_JSON = 1,
};

typedef void (*log_sink_fn)(int level, const char *line, void *arg);

extern int log_level_current;

void log_init(const char *ident, int level);
void log_use_syslog(int on);
void log_set_sink(log_sink_fn fn, void *arg);
/* LOG_FMT_*; it stays in force when the file is reopened (log_reopen). */
void log_set_format(int format);
/* "text", "json" -> LOG_FMT_*; -1 if unknown. */
int log_format_parse(const char *name);
/* The replica a daemon's lines come from (a JSON line's "replica"); 0: none. */
void log_set_replica(unsigned id);
/* Appends log lines to the file PATH (created 0640 if missing) instead of
 * standard error; NULL goes back to standard error.  0, or -1 with the
 * reason in ERR (the previous output is kept). */
int log_use_file(const char *path, char *err, size_t errlen);
/* Opens the log file again by its name (after logrotate moved it; chubbyd
 * does it on SIGHUP).  Without a log file it does nothing.  0, or -1 with
 * the reason in ERR (the old file stays in use). */
int log_reopen(char *err, size_t errlen);
/* "error", "warn", "info", "debug" -> level; -1 if unknown. */
int log_level_parse(const char *name);
const char *log_level_name(int level);

void log_emit(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_emitv(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_at(lvl, ...)                                                                        \
	do {                                                                                    \
		if (log_level_current >= (lvl))                                                 \
			log_emit((lvl), __VA_ARGS__);                                           \
	} while (0)
#define log_error(...) log_at(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
