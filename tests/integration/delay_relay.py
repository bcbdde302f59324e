"""delay_relay.py: TCP relays that hold every byte back for a fixed one-way
delay, standing in for distance between replicas (test_distance.sh).  This
kernel has no netem qdisc, so the delay is added in user space: each relay
listens where the others dial a replica (its peer= address) and forwards to
where the replica listens (its peer_listen= address), from the source host
the connection came from, so the replica's check of a peer's source address
still holds.

usage: delay_relay.py DELAY_MS LISTEN=TARGET...   (runs until killed)
Each direction of a connection is a FIFO of (due time, bytes): a writer task
sends each chunk when it is due, so order is kept and the added delay is
DELAY_MS whatever the load (not a bandwidth limit)."""
import asyncio
import sys
import time


def hostport(s):
    h, p = s.rsplit(":", 1)
    return h, int(p)


async def pump(reader, writer, delay):
    q = asyncio.Queue()

    async def send():
        while True:
            due, data = await q.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    t = asyncio.ensure_future(send())
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            await q.put((time.monotonic() + delay, data))
    except (ConnectionError, OSError):
        pass
    await q.put((0, None))
    try:
        await t
    except (ConnectionError, OSError):
        pass


def relay(target, delay):
    async def on_conn(r1, w1):
        src = w1.get_extra_info("peername")[0]
        try:
            r2, w2 = await asyncio.open_connection(*target, local_addr=(src, 0))
        except OSError:
            w1.close()
            return
        await asyncio.gather(pump(r1, w2, delay), pump(r2, w1, delay))
    return on_conn


async def main():
    delay = int(sys.argv[1]) / 1000.0
    servers = []
    for spec in sys.argv[2:]:
        listen, target = spec.split("=")
        servers.append(await asyncio.start_server(relay(hostport(target), delay),
                                                  *hostport(listen), reuse_address=True))
    print("relaying %d addresses with %d ms one way" % (len(servers), int(sys.argv[1])),
          flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
