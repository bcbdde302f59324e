/*
 * peer.h: links between the replicas of a cell.  Each replica dials every
 * other one on its peer port, from its own address (so a test can cut one
 * link with a packet filter), and sends on that outgoing link; it receives
 * on the links the others dialled.  Only replica certificates of this cell
 * are accepted, and every message's sender must be the certificate's
 * replica: a client certificate can never speak Paxos.  Delivery is best
 * effort: Paxos retransmits what matters, so a full or broken link drops.
 */
#ifndef CHUBBY_PEER_H
#define CHUBBY_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "paxos/paxos_msg.h"

struct chubbyd;
struct peer_net;
struct cell_replica;

typedef void (*peer_deliver_fn)(const struct paxos_msg *m, void *arg);

struct peer_net *peer_net_new(struct chubbyd *d, peer_deliver_fn deliver, void *arg, char *err,
    size_t errlen);
void peer_net_free(struct peer_net *n);
/* Dials replica TO too (a member that entered the address book through the
 * log); TO must stay where it is (the config's replica table).  Nothing
 * for ourselves or a replica already dialled. */
void peer_net_add(struct peer_net *n, const struct cell_replica *to);
/* Stops dialling replica ID and closes its links, both ways (it left the
 * configuration); peer_net_add dials it again.  Its incoming links are
 * refused while its config entry says removed. */
void peer_net_drop(struct peer_net *n, unsigned id);

/* Sends M to replica M->to; false if it was dropped (link down or full). */
int peer_send(struct peer_net *n, const struct paxos_msg *m);

struct tls_config;

/* Reads the TLS files in TC (client role: what we present when dialling)
 * again for the outgoing links' next connections.  On failure nothing
 * changes and ERR says why. */
int peer_net_reload_tls(struct peer_net *n, const struct tls_config *tc, char *err,
    size_t errlen);

/* Closes every link, incoming or outgoing, whose other end presented a
 * certificate the current CRL revokes; returns how many. */
unsigned peer_close_revoked(struct peer_net *n);

/* How many outgoing links are connected right now. */
unsigned peer_links_up(const struct peer_net *n);

struct peer_stats {
	uint64_t sent, dropped, received, bad, bytes_out, bytes_in;
};
void peer_stats(const struct peer_net *n, struct peer_stats *out);

#endif
