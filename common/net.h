/* net.h: address helpers for the shells (resolve "host:port", format sockaddrs). */
#ifndef CHUBBY_NET_H
#define CHUBBY_NET_H

#include <stddef.h>
#include <sys/socket.h>

/* Resolves HOSTPORT ("127.0.0.1:7100", "[::1]:7100", "name:7100") to the
 * first address.  Returns CHUBBY_OK or CHUBBY_E_INVALID / CHUBBY_E_UNAVAILABLE
 * with the reason in ERR. */
int net_resolve(const char *hostport, struct sockaddr_storage *out, int *outlen, char *err,
    size_t errlen);

/* "ip:port" or "[ip6]:port" of SA into BUF; returns BUF. */
const char *net_format(const struct sockaddr *sa, char *buf, size_t len);

#endif
