/*
 * session_shell.h: the daemon's side of the master's session layer
 * (server/session, a pure core).  It gives the layer its environment -
 * proposals through the replica, replies through the RPC layer, mastership
 * and the namespace from the replica, sequencers signed with the cell's
 * key, lines to the daemon's log - and the clocks' time at each call, and
 * registers it as an observer of the replica (applied commands, a state
 * replaced, ticks).  The arrows point one way: rpc -> svc -> session -> replica;
 * the replica knows the session layer only as an observer.
 */
#ifndef CHUBBY_SESSION_SHELL_H
#define CHUBBY_SESSION_SHELL_H

#include "session/session.h"

struct chubbyd;

/* D's session layer; D->replica may come later (no mastership until then). */
struct session_mgr *session_shell_new(struct chubbyd *d);
/* Registers D->sessions as an observer of D->replica. */
void session_shell_attach(struct chubbyd *d);
/* The clocks, now, for the session layer's entry points. */
struct session_now session_shell_now(void);

#endif
