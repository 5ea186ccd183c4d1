#!/usr/bin/env python3
"""h2idle.py - hold N idle HTTP/2 connections open, for bench/http's memory
figure.

Each connection: TCP, TLS offering ALPN "h2" (no certificate check: the bench
certificate is self-signed), the client preface and an empty SETTINGS frame;
it waits for the server's SETTINGS, acknowledges it, and then sits idle,
answering PINGs. No stream is ever opened. Connections are opened --parallel
at a time, so that no proxy's listen backlog is overrun.

Once every connection is settled (set up, failed, or past --deadline seconds)
it prints "held=N failed=F other_alpn=A" on one line and flushes. It then
holds them until --seconds have passed or SIGTERM comes, and prints
"open=N closed_by_peer=C" (how many were still open at that moment) before it
exits.

With --any-alpn, a connection whose server picked no ALPN or another one is
held as a bare TLS connection (nothing sent after the handshake) and counted
in other_alpn too: only for checking the harness against a TCP relay.

Usage: h2idle.py --connect HOST:PORT --sni NAME --conns N [--seconds S]
                 [--deadline S] [--parallel P] [--any-alpn]
"""
import argparse
import asyncio
import signal
import ssl
import struct
import sys

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS, PING, GOAWAY = 4, 6, 7
ACK = 1


def frame(ftype, flags, payload=b"", stream=0):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


class Conn:
    def __init__(self):
        self.reader = None
        self.writer = None
        self.open = False


async def read_frame(reader):
    head = await reader.readexactly(9)
    length = int.from_bytes(head[0:3], "big")
    payload = await reader.readexactly(length) if length else b""
    return head[3], head[4], payload


async def setup(c, host, port, sni, ctx, any_alpn, counts):
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx,
                                                   server_hostname=sni)
    c.reader, c.writer = reader, writer
    alpn = writer.get_extra_info("ssl_object").selected_alpn_protocol()
    if alpn != "h2":
        if not any_alpn:
            raise RuntimeError("ALPN %r" % alpn)
        counts["other_alpn"] += 1
        return False
    writer.write(PREFACE + frame(SETTINGS, 0))
    await writer.drain()
    while True:
        ftype, flags, _ = await read_frame(reader)
        if ftype == SETTINGS and not flags & ACK:
            writer.write(frame(SETTINGS, ACK))
            await writer.drain()
            return True
        if ftype == GOAWAY:
            raise RuntimeError("GOAWAY during setup")


async def idle(c, is_h2):
    """Sit on the connection until the peer closes it."""
    try:
        if not is_h2:
            await c.reader.read()  # returns at EOF
        else:
            while True:
                ftype, flags, payload = await read_frame(c.reader)
                if ftype == PING and not flags & ACK:
                    c.writer.write(frame(PING, ACK, payload))
                elif ftype == GOAWAY:
                    break
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError):
        pass
    c.open = False


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connect", required=True)
    ap.add_argument("--sni", required=True)
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--deadline", type=float, default=60)
    ap.add_argument("--parallel", type=int, default=64)
    ap.add_argument("--any-alpn", action="store_true")
    a = ap.parse_args()
    host, port = a.connect.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    counts = {"held": 0, "failed": 0, "other_alpn": 0}
    conns = [Conn() for _ in range(a.conns)]
    sem = asyncio.Semaphore(a.parallel)
    idlers = []

    async def one(c):
        async with sem:
            try:
                is_h2 = await setup(c, host, int(port), a.sni, ctx, a.any_alpn, counts)
                c.open = True
                counts["held"] += 1
                idlers.append(asyncio.ensure_future(idle(c, is_h2)))
            except Exception as e:  # any failure counts; the first is shown
                if counts["failed"] == 0:
                    print("h2idle: %s" % e, file=sys.stderr)
                counts["failed"] += 1

    tasks = [asyncio.ensure_future(one(c)) for c in conns]
    await asyncio.wait(tasks, timeout=a.deadline)
    print("held=%d failed=%d other_alpn=%d" % (counts["held"], counts["failed"],
          counts["other_alpn"]), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), timeout=a.seconds)
    except asyncio.TimeoutError:
        pass
    still = sum(1 for c in conns if c.open)
    print("open=%d closed_by_peer=%d" % (still, counts["held"] - still), flush=True)
    for t in tasks + idlers:
        t.cancel()
    for c in conns:
        if c.writer is not None:
            c.writer.transport.abort()


if __name__ == "__main__":
    asyncio.run(main())
