"""itest.py: what the Python checkers of the integration tests share: the
local cell their shell test started (argv: CELL_DIR CHUBBY_CELL_BIN PORT,
replicas at 127.0.0.11.. as chubby-cell places them), a connection to it as
one of the test principals, and TAP-like check lines counted for the
"NAME: N failed" summary the shell test reads."""
import sys

from chubby_wire import Cell


class Checks:
    def __init__(self, argv, name):
        self.dir, self.cellbin, self.port = argv[1], argv[2], int(argv[3])
        self.addrs = ["127.0.0.%d:%d" % (10 + i, self.port) for i in range(1, 6)]
        self.tls = self.dir + "/tls"
        self.name = name
        self.failed = 0

    def cell(self, principal):
        """A Cell that speaks as PRINCIPAL (client-PRINCIPAL.crt under tls/)."""
        return Cell(self.addrs, self.tls + "/ca.crt", "%s/client-%s.crt" % (self.tls, principal),
                    "%s/client-%s.key" % (self.tls, principal))

    def check(self, name, cond, detail=""):
        if cond:
            print("ok - " + name, flush=True)
        else:
            self.failed += 1
            print("FAIL - %s %s" % (name, detail), flush=True)

    def finish(self):
        print("%s: %d failed" % (self.name, self.failed), flush=True)
        sys.exit(1 if self.failed else 0)
