## server/paxos/paxos.mk: (filled in by its module)
