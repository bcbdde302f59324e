/*
 * reqstats.h: client requests counted by operation and outcome, and their
 * latency by operation, for /metrics (chubby_client_requests_total{op,
 * status} and chubby_client_request_duration_seconds{op}).  Labels come
 * from the op and status tables (common/protocol.h, chubby.h), so their
 * sets are bounded: an op or status outside them counts as UNKNOWN or
 * E_UNKNOWN, never as a new label value.
 *
 * Pure (tests/check-pure.sh): the caller gives the durations.
 */
#ifndef CHUBBY_REQSTATS_H
#define CHUBBY_REQSTATS_H

#include <stdint.h>

#include <chubby/chubby.h>

#include "protocol.h"
#include "latency.h"

#define REQSTATS_COUNT1(...) +1
/* Every op and status of the tables, and one more each for the unknown. */
#define REQSTATS_NOPS (0 PROTO_OP_LIST(REQSTATS_COUNT1) + 1)
#define REQSTATS_NSTATUS (0 CHUBBY_STATUS_LIST(REQSTATS_COUNT1) + 1)

struct reqstats {
	uint64_t n[REQSTATS_NOPS][REQSTATS_NSTATUS];
	struct lat_hist lat[REQSTATS_NOPS];
};

/* A request for OP answered STATUS, US microseconds after it arrived. */
void reqstats_note(struct reqstats *s, unsigned op, int status, uint64_t us);
/* The label values of op index I (< REQSTATS_NOPS) and status index J. */
const char *reqstats_op_name(unsigned i);
const char *reqstats_status_name(unsigned j);
/* Every request counted (all ops, all statuses). */
uint64_t reqstats_total(const struct reqstats *s);

#endif
