/*
 * logfmt.h: a log line as one JSON object (log_format = json), for log
 * collectors that parse lines rather than read them.  Kept apart from
 * log.c's sinks so that the encoding can be tested on its own.
 */
#ifndef CHUBBY_LOGFMT_H
#define CHUBBY_LOGFMT_H

#include <stdint.h>

/*
 * Returns a malloc'd line, "\n"-terminated:
 *   {"ts":"2026-12-06T11:07:11.230Z","level":"info","prog":"chubbyd",
 *    "replica":2,"msg":"..."}
 * TS_SEC and TS_NSEC are the wall-clock time (UTC, to the millisecond);
 * PROG is the program's name (an ident's "[...]" suffix is left out);
 * REPLICA 0 leaves "replica" out.  A message of the form
 * "WORD KEY=VALUE..." (the audit trail's, server/rpc/audit.c: a VALUE is
 * bare or double-quoted with \", \\ and \xNN escapes) becomes "msg":"WORD"
 * and one string field per KEY; any other message, or one whose keys
 * repeat or clash with the fields above, is kept whole in "msg".  Strings
 * are escaped per RFC 8259 (json.h).  NULL when out of memory.
 */
char *logfmt_json(int64_t ts_sec, long ts_nsec, const char *prog, unsigned replica,
                  const char *level, const char *msg);

#endif
