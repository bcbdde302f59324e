/* net.c: resolving and formatting addresses for the shells. */
#include "config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "net.h"

int
net_resolve(const char *hostport, struct sockaddr_storage *out, int *outlen, char *err,
    size_t errlen)
{
	char host[256], portstr[8];
	unsigned port;
	struct addrinfo hints, *res = NULL;
	int rc;

	if (config_parse_hostport(hostport, host, sizeof host, &port, err, errlen) != CHUBBY_OK)
		return CHUBBY_E_INVALID;
	snprintf(portstr, sizeof portstr, "%u", port);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0 || res == NULL) {
		snprintf(err, errlen, "cannot resolve \"%s\": %s", host, gai_strerror(rc));
		return CHUBBY_E_UNAVAILABLE;
	}
	memcpy(out, res->ai_addr, res->ai_addrlen);
	*outlen = (int)res->ai_addrlen;
	freeaddrinfo(res);
	return CHUBBY_OK;
}

const char *
net_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}
