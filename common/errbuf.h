/* errbuf.h: formatting an error message into a caller's (err, errlen) buffer. */
#ifndef CHUBBY_ERRBUF_H
#define CHUBBY_ERRBUF_H

#include <stddef.h>

/* Writes the message into ERR; does nothing when ERR is NULL or ERRLEN 0,
 * so callers that do not want the text may pass NULL. */
void errbuf_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
