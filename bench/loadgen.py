"""The load generator: a separate process of raw HTTP/1.1 keep-alive connections on uvloop.

``python -m bench.loadgen --port P --path /api/v1/scrobble --bodies FILE --connections 64
--duration 10 --out result.json``. Each connection sends one request, waits for its answer
(closed loop, no pipelining), and takes the next body (each line of FILE once, in order; GET
requests when no bodies). ``--rate`` paces all connections together (open loop) for the
freshness scenario. It writes counts, statuses, latency percentiles and its own CPU use: it
shares the machine's cores with the servers it measures, so that CPU is reported beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

import msgspec

__all__ = ["LoadResult", "main", "percentiles"]


class LoadResult(msgspec.Struct, kw_only=True):
    requests: int
    ok: int
    statuses: dict[str, int]
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    cpu_seconds: float
    cpu_percent: float
    """Of one core: 100 means the load generator used a whole core."""
    connections: int


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds of latencies in nanoseconds."""
    if not samples_ns:
        return {"p50_ms": 0.0, "p90_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    s = sorted(samples_ns)

    def at(q: float) -> float:
        return s[min(len(s) - 1, int(q * len(s)))] / 1e6

    return {"p50_ms": at(0.50), "p90_ms": at(0.90), "p99_ms": at(0.99), "max_ms": s[-1] / 1e6}


class _Conn(asyncio.Protocol):
    """One keep-alive connection: send a request, parse the answer, resolve a future."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check here.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self.buf) < end + 4 + length:
            return
        status = int(head[9:12])
        del self.buf[: end + 4 + length]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    async def request(self, raw: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


def _request(method: str, path: str, host: str, body: bytes | None, headers: list[str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *headers]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def run(args: argparse.Namespace) -> LoadResult:
    host = f"{args.host}:{args.port}"
    headers = list(args.header or [])
    if args.bodies:
        with Path(args.bodies).open("rb") as f:  # noqa: ASYNC230  (read once before any request)
            raws = [
                _request("POST", args.path, host, line.rstrip(b"\n"), headers) for line in f if line.strip()
            ]
        source = itertools.cycle(raws) if args.cycle else iter(raws)
    else:
        paths = args.path.split(",")
        source = itertools.cycle([_request("GET", p, host, None, headers) for p in paths])
    loop = asyncio.get_running_loop()
    latencies: list[int] = []
    statuses: Counter[int] = Counter()
    started = time.perf_counter()
    warm_until = started + args.warmup
    stop_at = warm_until + args.duration
    sent = itertools.count()

    async def worker() -> None:
        _, conn = await loop.create_connection(_Conn, args.host, args.port)
        try:
            while True:
                now = time.perf_counter()
                if now >= stop_at or (args.max_requests and len(latencies) >= args.max_requests):
                    return
                if args.rate:
                    slot = started + next(sent) / args.rate
                    if slot > now:
                        await asyncio.sleep(slot - now)
                raw = next(source, None)
                if raw is None:
                    return
                t0 = time.perf_counter_ns()
                status = await conn.request(raw)
                t1 = time.perf_counter_ns()
                if time.perf_counter() >= warm_until:
                    latencies.append(t1 - t0)
                    statuses[status] += 1
        finally:
            assert conn.transport is not None
            conn.transport.close()

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(worker() for _ in range(args.connections)))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = max(1e-9, time.perf_counter() - max(warm_until, started))
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    total_wall = time.perf_counter() - started
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return LoadResult(
        requests=len(latencies),
        ok=ok,
        statuses={str(k): v for k, v in sorted(statuses.items())},
        seconds=wall,
        rps=len(latencies) / wall,
        cpu_seconds=cpu,
        cpu_percent=100.0 * cpu / max(1e-9, total_wall),
        connections=args.connections,
        **percentiles(latencies),
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", required=True, help="request path; comma-separated paths cycle for GET")
    p.add_argument("--bodies", help="file of request bodies, one per line (POST); none = GET")
    p.add_argument("--cycle", action="store_true", help="reuse bodies when they run out")
    p.add_argument("--header", action="append", help="extra header line, e.g. 'Authorization: Token x'")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--rate", type=float, default=0.0, help="requests per second over all connections")
    p.add_argument("--max-requests", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    import uvloop

    result: Any = uvloop.run(run(args))
    Path(args.out).write_bytes(msgspec.json.encode(result))


if __name__ == "__main__":
    main()
