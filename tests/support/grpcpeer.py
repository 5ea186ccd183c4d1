#!/usr/bin/env python3
"""grpcpeer.py - a gRPC server and client for tests (Debian's python3-grpcio;
no protobuf: messages are raw bytes, with generic handlers).

  grpcpeer.py server --listen HOST:PORT [--cert FILE --key FILE]
      Service test.Echo, cleartext (h2c) or TLS with ALPN h2:
        Unary(b)   -> b"echo:" + b, trailing metadata x-trailer: unary;
                      b"fail" aborts with PERMISSION_DENIED "denied by test"
        Server(n)  -> n messages b"msg I" (n may be "N:SIZE": messages of
                      SIZE bytes), trailing metadata x-count: n
        Client(*)  -> b"total N" (bytes received), x-count: messages
        Bidi(*)    -> b"re:" + each message, as each comes
  grpcpeer.py client --connect HOST:PORT --ca FILE --name NAME
      Runs each kind through tlsgate (TLS, authority and server name NAME)
      and checks messages, status codes and trailing metadata. Prints one
      "ok ..." line per check; exits 1 at the first failure.
  grpcpeer.py slow --connect ... : while one server stream of 64 MiB is
      read slowly, 20 unary calls on another channel must complete
      ("ok unary beside a busy stream").
"""
import argparse
import sys
import threading
from concurrent import futures

import grpc

SVC = "/test.Echo/"


def unary(req, ctx):
    if req == b"fail":
        ctx.abort(grpc.StatusCode.PERMISSION_DENIED, "denied by test")
    ctx.set_trailing_metadata((("x-trailer", "unary"),))
    return b"echo:" + req


def server_stream(req, ctx):
    spec = req.decode()
    n, size = (spec.split(":") + ["0"])[:2]
    n, size = int(n), int(size)
    for i in range(n):
        m = b"msg %d" % i
        yield m + b"." * max(0, size - len(m))
    ctx.set_trailing_metadata((("x-count", str(n)),))


def client_stream(it, ctx):
    total = count = 0
    for m in it:
        total += len(m)
        count += 1
    ctx.set_trailing_metadata((("x-count", str(count)),))
    return b"total %d" % total


def bidi(it, ctx):
    for m in it:
        yield b"re:" + m


def serve(a):
    h = grpc.method_handlers_generic_handler("test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Server": grpc.unary_stream_rpc_method_handler(server_stream),
        "Client": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    })
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=16), handlers=(h,))
    if a.cert:
        with open(a.key, "rb") as k, open(a.cert, "rb") as c:
            creds = grpc.ssl_server_credentials(((k.read(), c.read()),))
        srv.add_secure_port(a.listen, creds)
    else:
        srv.add_insecure_port(a.listen)
    srv.start()
    print("listening", a.listen, flush=True)
    srv.wait_for_termination()


def channel(a):
    with open(a.ca, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    return grpc.secure_channel(a.connect, creds, options=(
        ("grpc.ssl_target_name_override", a.name),
        ("grpc.default_authority", a.name),
        ("grpc.max_receive_message_length", 64 * 1024 * 1024)))


def fail(msg):
    print("FAIL", msg, flush=True)
    sys.exit(1)


def md(call):
    return dict(call.trailing_metadata() or ())


def client(a):
    ch = channel(a)
    grpc.channel_ready_future(ch).result(timeout=20)
    u = ch.unary_unary(SVC + "Unary")
    resp, call = u.with_call(b"hi", timeout=20)
    if resp != b"echo:hi" or call.code() != grpc.StatusCode.OK:
        fail("unary: %r %s" % (resp, call.code()))
    if md(call).get("x-trailer") != "unary":
        fail("unary trailers: %r" % (call.trailing_metadata(),))
    print("ok unary, status OK, trailer x-trailer=unary", flush=True)
    try:
        u(b"fail", timeout=20)
        fail("unary fail: no error")
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.PERMISSION_DENIED or e.details() != "denied by test":
            fail("unary fail: %s %r" % (e.code(), e.details()))
    print("ok unary error: PERMISSION_DENIED \"denied by test\"", flush=True)

    s = ch.unary_stream(SVC + "Server")
    call = s(b"100", timeout=60)
    got = list(call)
    if got != [b"msg %d" % i for i in range(100)]:
        fail("server stream: %d messages" % len(got))
    if call.code() != grpc.StatusCode.OK or md(call).get("x-count") != "100":
        fail("server stream end: %s %r" % (call.code(), call.trailing_metadata()))
    print("ok server streaming: 100 messages, x-count=100", flush=True)
    # Larger than any window on the way: 200 messages of 64 KiB.
    call = s(b"200:65536", timeout=120)
    n = sum(1 for m in call if len(m) == 65536)
    if n != 200 or call.code() != grpc.StatusCode.OK:
        fail("big server stream: %d messages, %s" % (n, call.code()))
    print("ok server streaming: 200 x 64 KiB", flush=True)

    c = ch.stream_unary(SVC + "Client")
    resp, call = c.with_call(iter([b"a" * 1000] * 50), timeout=60)
    if resp != b"total 50000" or md(call).get("x-count") != "50":
        fail("client stream: %r %r" % (resp, call.trailing_metadata()))
    resp = c(iter([b"b" * 65536] * 64), timeout=120)
    if resp != b"total 4194304":
        fail("big client stream: %r" % resp)
    print("ok client streaming: 50 messages and 64 x 64 KiB", flush=True)

    # Bidi, lock-step: each message waits for the answer to the last, so
    # nothing but per-message streaming in both directions can finish it.
    b = ch.stream_stream(SVC + "Bidi")
    answers = []
    cv = threading.Condition()

    def gen():
        for i in range(50):
            with cv:
                if not cv.wait_for(lambda: len(answers) == i, timeout=30):
                    return
            yield b"m%d" % i

    call = b(gen(), timeout=60)
    for m in call:
        with cv:
            answers.append(m)
            cv.notify_all()
    if answers != [b"re:m%d" % i for i in range(50)] or call.code() != grpc.StatusCode.OK:
        fail("bidi: %d answers, %s" % (len(answers), call.code()))
    print("ok bidi streaming: 50 messages in lock-step", flush=True)
    ch.close()


def slow(a):
    busy, quick = channel(a), channel(a)
    s = busy.unary_stream(SVC + "Server")
    call = s(b"1024:65536", timeout=120)
    it = iter(call)
    next(it)                        # the stream is flowing
    u = quick.unary_unary(SVC + "Unary")
    for i in range(20):
        r = u(b"q%d" % i, timeout=20)
        if r != b"echo:q%d" % i:
            fail("unary beside the busy stream: %r" % r)
        next(it)                    # read the busy one slowly meanwhile
    print("ok unary beside a busy stream: 20 calls", flush=True)
    call.cancel()
    busy.close()
    quick.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=("server", "client", "slow"))
    p.add_argument("--listen")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--connect")
    p.add_argument("--ca")
    p.add_argument("--name")
    a = p.parse_args()
    if a.mode == "server":
        serve(a)
    elif a.mode == "client":
        client(a)
    else:
        slow(a)


if __name__ == "__main__":
    main()
