/*
 * cellspec.h: what a client is told to reach a cell: "-C CELL" or
 * $CHUBBY_CELL, which is a cell config file, a comma-separated host:port
 * list, or a DNS name; plus the TLS files, from the config or from
 * $CHUBBY_CERT, $CHUBBY_KEY and $CHUBBY_CA (the environment wins).
 */
#ifndef CHUBBY_CELLSPEC_H
#define CHUBBY_CELLSPEC_H

#include <stddef.h>

#define CELLSPEC_MAX_ADDRS 16
#define CELLSPEC_ADDR_MAX 264
#define CELLSPEC_PATH_MAX 1024
#define CELLSPEC_DEFAULT_PORT 7100

enum cellspec_kind {
	CELLSPEC_CONFIG,   /* a cell config file */
	CELLSPEC_LIST,     /* host:port,host:port,... */
	CELLSPEC_DNS,      /* a DNS name whose records list the replicas */
};

struct cellspec {
	enum cellspec_kind kind;
	char cell[65];                 /* the cell's name if the spec says it, else "" */
	size_t naddrs;
	char addrs[CELLSPEC_MAX_ADDRS][CELLSPEC_ADDR_MAX]; /* client ports */
	unsigned ids[CELLSPEC_MAX_ADDRS];                  /* replica ids, 0 if unknown */
	char dns_name[256];
	char ca[CELLSPEC_PATH_MAX];
	char cert[CELLSPEC_PATH_MAX];
	char key[CELLSPEC_PATH_MAX];
	char crl[CELLSPEC_PATH_MAX]; /* "" if none */
};

/* Fills OUT from SPEC (NULL: $CHUBBY_CELL).  A DNS name is resolved to its
 * addresses (A/AAAA, port CELLSPEC_DEFAULT_PORT).  Returns CHUBBY_OK, or
 * CHUBBY_E_CONFIG / CHUBBY_E_INVALID / CHUBBY_E_UNAVAILABLE with the reason. */
int cellspec_parse(const char *spec, struct cellspec *out, char *err, size_t errlen);

#endif
