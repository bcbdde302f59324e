/* protocol.c: names of the protocol's kinds, ops and events, for logs. */
#include "config.h"

#include "protocol.h"

/* Switches generated from the tables in protocol.h: a number given twice
 * is a duplicate case label, so the compiler refuses it. */

const char *
proto_kind_name(unsigned kind)
{
	switch (kind) {
#define PROTO_KIND_CASE(name, num)                                                              \
	case num:                                                                               \
		return #name;
		PROTO_KIND_LIST(PROTO_KIND_CASE)
#undef PROTO_KIND_CASE
	}
	if (kind >= PROTO_KIND_PEER_FIRST && kind <= PROTO_KIND_PEER_LAST)
		return "PEER";
	return "UNKNOWN";
}

const char *
proto_op_name(unsigned op)
{
	switch (op) {
#define PROTO_OP_CASE(name, num)                                                                \
	case num:                                                                               \
		return #name;
		PROTO_OP_LIST(PROTO_OP_CASE)
#undef PROTO_OP_CASE
	}
	return "UNKNOWN";
}

const char *
proto_event_name(unsigned type)
{
	switch (type) {
#define PROTO_EVENT_CASE(name, num)                                                             \
	case num:                                                                               \
		return #name;
		PROTO_EVENT_LIST(PROTO_EVENT_CASE)
#undef PROTO_EVENT_CASE
	}
	return "UNKNOWN";
}
