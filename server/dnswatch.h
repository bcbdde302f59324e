/*
 * dnswatch.h: replicas named by DNS (Chubby's replacement of a failed
 * machine: the new machine's address is published in DNS, and the master
 * notices).  A replica line may carry dns=NAME; every dns_poll_interval the
 * master resolves each such name of the other replicas (asynchronously,
 * libevent's evdns, the servers of /etc/resolv.conf or dns_server), and
 * when a name has come to name another address it moves that replica there
 * through the log (replica_move, as `lockctl members replace` does, with
 * the same checks), keeping the ports.  The new machine then rejoins as a
 * non-voter, catches up and votes; the old one is refused.
 */
#ifndef CHUBBY_DNSWATCH_H
#define CHUBBY_DNSWATCH_H

struct chubbyd;
struct dnswatch;

/* NULL when no replica has a DNS name (nothing to watch) or on error (ERR). */
struct dnswatch *dnswatch_new(struct chubbyd *d, char *err, size_t errlen);
void dnswatch_free(struct dnswatch *w);

#endif
