"""The latency proxy: a real TCP hop that puts the database a chosen round-trip time away.

On a laptop PostgreSQL answers in microseconds, which hides what round trips cost; the
case study's figures come from a database tens of milliseconds away.  Instead of
multiplying round trips by a latency, dalperf sends the traffic through this proxy and
measures::

    with LatencyProxy(Upstream.of_url(url)) as proxy:     # a child process, loopback only
        proxy.set_delay(rtt_ms=20)
        engine = create_engine(proxy.url(url))             # same database, 20 ms away

What it does to the traffic:

- Every chunk read in one direction is forwarded half the round-trip time later
  (``rtt_ms / 2``), plus, with ``jitter_ms``, a uniform draw in ``±jitter_ms / 2``, so one
  round trip takes ``rtt_ms ± jitter_ms``.  Each chunk gets a deadline when it is read and
  is written when the deadline comes; back-to-back chunks therefore do not add up their
  delays, and a deadline is never earlier than the previous one in the same direction,
  so order is kept per direction and connection.
- A new connection's first chunk waits one round trip more: the client's TCP handshake
  with the proxy is instant on loopback, where over a network it takes a round trip
  before the client can send anything (:mod:`harness.wire` counts it as one).
- At 0 ms a chunk is written as soon as it is read, with nothing queued.
- After it read or wrote something, the proxy keeps polling its sockets for
  :data:`HOT_POLL_S` instead of going to sleep (see below).
- ``TCP_NODELAY`` on both sockets; connection close and half-close are forwarded in
  order after the data; reading from a side pauses while the other side's send buffer
  is full.

Why a child process with its own event loop: a proxy in the measuring process would
share its GIL, and a sync variant or the runner's own CPU work could hold up forwarding,
which would show as latency that is not the network's.  The child listens on 127.0.0.1,
port 0 (the system picks a free port, so a taken port is never a problem), is steered
with JSON lines on its stdin (a new delay, its statistics), and exits when its stdin
closes, so it cannot outlive the process that started it.

Overhead: what the extra hop costs is mostly waking the proxy up.  A process asleep in
epoll on an idle CPU of a virtual machine takes tens of microseconds to run again, twice
per round trip, which made the hop cost ~180 µs on a 2-core VM.  So for
:data:`HOT_POLL_S` after it read or wrote something the proxy polls instead of sleeping:
the server's answer to what it just forwarded, or a DAL operation's next statement,
usually comes within that time and is picked up at once.  It does so at every delay, so
that RTT 0 and the other RTTs of a sweep pay the same per hop (with polling at 0 ms only,
a sweep's 0 ms baseline got cheaper than the hops above it and the latency model missed
by 2-3 ms per round trip).  It runs at normal priority: it used to ask for real-time
priority, but a real-time process that polls keeps the client or the server off its CPU.
Measured with ``benchmarks/proxy_overhead.py``: +60 to +64 µs per bare ``SELECT 1`` round
trip instead of ~180.

Timer precision: asyncio's timers wait in the selector, and epoll's timeout has a
resolution of 1 ms, rounded up, which would make each hop up to 1 ms late (5% of a 20 ms
round trip).  The child's selector (:class:`_PreciseSelector`) waits in epoll up to 2 ms
before the timer, then polls between sleeps of 0.1 ms and, for the last 80 µs, without
sleeping (a sleep overshoots by the kernel's timer slack, 50 µs), so a chunk leaves some
20 µs after its deadline (median on a 2-core VM); the proxy reports how late its chunks actually left
(:class:`ProxyStats`).  What the extra hop itself costs, against a direct connection, is
measured with :func:`measure_overhead`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import select
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import IO, Any, Self

import psycopg
from sqlalchemy.engine import URL

from harness import urls
from harness.errors import DatabaseUnreachable, EnvironmentProblem, UsageError

LOOPBACK = "127.0.0.1"
DEFAULT_PG_PORT = 5432
START_TIMEOUT_S = 60.0  # the child imports the harness package first
REPLY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
HOT_POLL_S = 0.0005  # at RTT 0, keep polling this long after traffic instead of sleeping
COARSE_MARGIN_S = 0.002  # wait in the selector up to this long before a timer
FINE_STEP_S = 0.0001  # then poll between sleeps this short
SPIN_S = 0.00008  # and without sleeping for the last stretch (sleep overshoots by ~50 µs)
DUE_SLACK_S = 1e-6  # a chunk this close to its deadline is due
OVERHEAD_ROUNDS = 200
OVERHEAD_BLOCK = 20  # measure_overhead's calls per side in a row
CONNECT_TIMEOUT_S = 5
MS_PER_S = 1000.0


@dataclass(frozen=True, kw_only=True)
class Upstream:
    """Where the proxy forwards to: a TCP ``host:port``, or a unix socket file ``path``."""

    host: str = ""
    port: int = DEFAULT_PG_PORT
    path: str = ""

    def __post_init__(self) -> None:
        if bool(self.host) == bool(self.path):
            raise UsageError("the latency proxy needs either a TCP host or a unix socket path")

    @classmethod
    def of_url(cls, url: str | URL) -> Upstream:
        """The server a PostgreSQL URL names; a host starting with ``/`` is a socket folder."""
        parsed = urls.parse(url) if isinstance(url, str) else url
        host = parsed.host or parsed.query.get("host") or ""
        if isinstance(host, tuple):
            host = host[0]
        port = int(parsed.port or parsed.query.get("port") or DEFAULT_PG_PORT)
        if not host:
            raise UsageError(f"the latency proxy needs a host in the database URL "
                             f"({urls.masked(parsed)}); give host=/socket/folder for a unix socket")
        if host.startswith("/"):
            return cls(path=f"{host}/.s.PGSQL.{port}")
        return cls(host=host, port=port)


@dataclass(frozen=True, kw_only=True)
class ProxyStats:
    """What the proxy forwarded since it started (or since the last reset).

    Chunks are counted per direction: a client that waits for each answer before it
    sends again sends one chunk per round trip (unless a message is too large for one),
    which makes ``chunks_to_server`` a check of the depth model.  ``lateness_ms`` is how much later than their deadline delayed chunks were written
    (median, 99th percentile, largest); chunks forwarded at once (RTT 0) are not in it.
    """

    connections: int
    chunks_to_server: int
    chunks_to_client: int
    bytes: int
    delayed_chunks: int
    lateness_ms: dict[str, float]


@dataclass(frozen=True, kw_only=True)
class Overhead:
    """One ``SELECT 1`` round trip, direct and through the proxy at RTT 0 (medians, µs)."""

    direct_us: float
    proxied_us: float
    rounds: int

    @property
    def added_us(self) -> float:
        return self.proxied_us - self.direct_us

    @property
    def ratio(self) -> float:
        return self.proxied_us / self.direct_us

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "added_us": self.added_us, "ratio": self.ratio}


class LatencyProxy:
    """The proxy in a child process; a context manager that starts and stops it.

    The child starts with no delay; :meth:`set_delay` changes it for every chunk read
    from then on (connections stay open).
    """

    def __init__(self, upstream: Upstream, *, rtt_ms: float = 0.0, jitter_ms: float = 0.0,
                 seed: int = 0) -> None:
        _check_delay(rtt_ms, jitter_ms)
        self.upstream = upstream
        self._settings = {"rtt_ms": rtt_ms, "jitter_ms": jitter_ms, "seed": seed}
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._buffer = b""
        self.port = 0

    def __enter__(self) -> Self:
        self._stderr = tempfile.TemporaryFile()
        spec = json.dumps({"upstream": asdict(self.upstream), **self._settings})
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "harness.proxy", spec], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=self._stderr)
            ready = self._read_reply(START_TIMEOUT_S)
            self.port = int(ready["port"])
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop()

    def url(self, url: str | URL) -> str:
        """``url`` (a libpq URL) pointed at the proxy instead of the server."""
        parsed = urls.parse(url) if isinstance(url, str) else url
        query = {k: v for k, v in parsed.query.items() if k not in ("host", "hostaddr", "port")}
        return urls.libpq_url(parsed.set(host=LOOPBACK, port=self.port, query=query))

    def set_delay(self, *, rtt_ms: float, jitter_ms: float = 0.0) -> None:
        """Delay every chunk read from now on by ``rtt_ms / 2 ± jitter_ms / 2``."""
        _check_delay(rtt_ms, jitter_ms)
        self._ask({"op": "delay", "rtt_ms": rtt_ms, "jitter_ms": jitter_ms})

    def stats(self, *, reset: bool = False) -> ProxyStats:
        """What was forwarded so far; ``reset`` starts the counts again from zero."""
        return ProxyStats(**self._ask({"op": "stats", "reset": reset}))

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        process = self._running()
        assert process.stdin is not None
        try:
            process.stdin.write(json.dumps(command).encode() + b"\n")
            process.stdin.flush()
        except BrokenPipeError as exc:
            raise EnvironmentProblem(f"the latency proxy exited: {self._last_error()}") from exc
        return self._read_reply(REPLY_TIMEOUT_S)

    def _read_reply(self, timeout: float) -> dict[str, Any]:
        process = self._running()
        assert process.stdout is not None
        fd = process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            readable = select.select([fd], [], [], max(remaining, 0))[0] if remaining > 0 else []
            if not readable:
                raise EnvironmentProblem(f"the latency proxy did not answer within {timeout:g} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EnvironmentProblem(f"the latency proxy exited: {self._last_error()}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return dict(json.loads(line))

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise EnvironmentProblem("the latency proxy is not running")
        return self._process

    def _last_error(self) -> str:
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(STOP_TIMEOUT_S)
        if self._stderr is None:
            return "no output"
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit code {self._process and self._process.returncode}"

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def measure_overhead(direct_url: str, proxied_url: str, *,
                     rounds: int = OVERHEAD_ROUNDS) -> Overhead:
    """Median ``SELECT 1`` round trip on a direct connection and through the proxy.

    The proxy should be at RTT 0.  ``rounds`` statements per side are timed, the sides
    alternating in blocks of :data:`OVERHEAD_BLOCK` (the order flipping every other block),
    so drift in the machine's speed hits both alike.  Statement by statement would time
    direct ones while the proxy still polls after the last proxied one, sharing a CPU with
    it, so each block starts with one statement that is not timed.
    """
    samples: dict[bool, list[int]] = {False: [], True: []}
    try:
        with (psycopg.connect(direct_url, autocommit=True,
                              connect_timeout=CONNECT_TIMEOUT_S) as direct,
              psycopg.connect(proxied_url, autocommit=True,
                              connect_timeout=CONNECT_TIMEOUT_S) as proxied):
            connections = {False: direct, True: proxied}
            for conn in connections.values():  # warm: the statement, the buffers
                for _ in range(10):
                    conn.execute("SELECT 1").fetchone()
            for block_no, first in enumerate(range(0, rounds, OVERHEAD_BLOCK)):
                for through_proxy in (False, True) if block_no % 2 == 0 else (True, False):
                    connection = connections[through_proxy]
                    connection.execute("SELECT 1").fetchone()  # not timed: the switch
                    for _ in range(min(OVERHEAD_BLOCK, rounds - first)):
                        start = time.perf_counter_ns()
                        connection.execute("SELECT 1").fetchone()
                        samples[through_proxy].append(time.perf_counter_ns() - start)
    except psycopg.OperationalError as exc:
        raise DatabaseUnreachable(f"cannot measure the latency proxy's overhead: "
                                  f"{str(exc).strip().splitlines()[-1]}") from exc
    ns_per_us = 1000
    return Overhead(direct_us=statistics.median(samples[False]) / ns_per_us,
                    proxied_us=statistics.median(samples[True]) / ns_per_us, rounds=rounds)


def _check_delay(rtt_ms: float, jitter_ms: float) -> None:
    for name, value in (("round-trip time", rtt_ms), ("jitter", jitter_ms)):
        if not math.isfinite(value) or value < 0:
            raise UsageError(f"the simulated {name} must be a number >= 0 ms, not {value!r}")


# --------------------------------------------------------------------------------------
# The child process
# --------------------------------------------------------------------------------------


class _PreciseSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """The default selector, waking up some 20 µs after a timeout instead of up to 1 ms,
    and polling instead of sleeping for ``hot_poll_s`` (0: never) after the last time
    something was ready or a timeout ran out (in the proxy: a chunk came due)."""

    def __init__(self) -> None:
        super().__init__()
        self.hot_poll_s = 0.0
        self.last_ready = -math.inf

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._select(timeout)
        if ready or (timeout is not None and timeout > 0):
            self.last_ready = time.monotonic()
        return ready

    def _select(self, timeout: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:
            return super().select(timeout)
        now = time.monotonic()
        deadline = math.inf if timeout is None else now + timeout
        hot_until = min(self.last_ready + self.hot_poll_s, deadline)
        while now < hot_until:
            ready = super().select(0)
            if ready:
                return ready
            now = time.monotonic()
        if deadline == math.inf:
            return super().select(None)
        if deadline - now > COARSE_MARGIN_S:
            ready = super().select(deadline - now - COARSE_MARGIN_S)
            if ready:
                return ready
        while True:
            ready = super().select(0)
            remaining = deadline - time.monotonic()
            if ready or remaining <= 0:
                return ready
            if remaining > SPIN_S:
                time.sleep(min(remaining - SPIN_S, FINE_STEP_S))


class _Proxy:
    """The child's state: the current delay, the open links, the statistics."""

    def __init__(self, upstream: Upstream, *, rtt_ms: float, jitter_ms: float,
                 seed: int) -> None:
        self.upstream = upstream
        self.rng = random.Random(seed)
        self.links: set[_Link] = set()
        self.set_delay(rtt_ms, jitter_ms)
        self.reset()

    def set_delay(self, rtt_ms: float, jitter_ms: float) -> None:
        """Delay every chunk read from now on by ``rtt_ms / 2 ± jitter_ms / 2``."""
        self.rtt_s = rtt_ms / MS_PER_S
        self.jitter_s = jitter_ms / MS_PER_S

    def reset(self) -> None:
        self.connections = 0
        self.chunks = {True: 0, False: 0}  # by direction: to the server?
        self.bytes = 0
        self.lateness_s: list[float] = []

    def one_way_s(self) -> float:
        delay = self.rtt_s / 2
        if self.jitter_s:
            delay += self.rng.uniform(-self.jitter_s / 2, self.jitter_s / 2)
        return max(delay, 0.0)

    def stats(self) -> dict[str, Any]:
        late = sorted(self.lateness_s)
        summary = ({"p50": statistics.median(late) * MS_PER_S,
                    "p99": late[min(len(late) - 1, int(0.99 * len(late)))] * MS_PER_S,
                    "max": late[-1] * MS_PER_S} if late else {})
        return {"connections": self.connections, "chunks_to_server": self.chunks[True],
                "chunks_to_client": self.chunks[False], "bytes": self.bytes,
                "delayed_chunks": len(late), "lateness_ms": summary}


class _Pipe:
    """One direction of one link: chunks waiting for their deadline, then the side they go to."""

    def __init__(self, proxy: _Proxy, loop: asyncio.AbstractEventLoop, target: _Side, *,
                 to_server: bool) -> None:
        self.proxy = proxy
        self.loop = loop
        self.target = target
        self.to_server = to_server
        self.queue: deque[tuple[float, bytes | None]] = deque()  # None: the end of the stream
        self.timer: asyncio.TimerHandle | None = None
        self.last_deadline = 0.0
        self.closed = False

    def push(self, data: bytes | None, *, extra_s: float = 0.0) -> None:
        """Forward ``data`` (``None``: the end of the stream) after the current delay."""
        if self.closed:
            return
        delay = self.proxy.one_way_s() + extra_s
        if delay == 0 and not self.queue and self.target.transport is not None \
                and data is not None:
            self._write(data, None)
            return
        deadline = max(self.loop.time() + delay, self.last_deadline)
        self.last_deadline = deadline
        self.queue.append((deadline, data))
        self.ready()

    def ready(self) -> None:
        """Start the clock for the first waiting chunk, if the target can take it."""
        if self.queue and self.timer is None and self.target.transport is not None:
            self.timer = self.loop.call_at(self.queue[0][0], self._flush)

    def drop(self) -> None:
        """The target is gone: forget what waits for it."""
        self.closed = True
        self.queue.clear()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _flush(self) -> None:
        self.timer = None
        now = self.loop.time()
        while self.queue and self.queue[0][0] <= now + DUE_SLACK_S:
            deadline, data = self.queue.popleft()
            if data is None:
                self.drop()
                self.target.finish_writing()
                return
            self._write(data, now - deadline)
        self.ready()

    def _write(self, data: bytes, late_s: float | None) -> None:
        assert self.target.transport is not None
        self.target.transport.write(data)
        proxy = self.proxy
        proxy.chunks[self.to_server] += 1
        proxy.bytes += len(data)
        if late_s is not None:
            proxy.lateness_s.append(max(late_s, 0.0))


class _Side(asyncio.Protocol):
    """One socket of a link: what it reads goes out through the link's other pipe.

    Each direction ends on its own (half-close): the socket is closed once it has both
    read its end of stream and been sent the other side's.
    """

    def __init__(self, link: _Link) -> None:
        self.link = link
        self.transport: asyncio.Transport | None = None
        self.read_done = False
        self.write_done = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.link.forward(self, data)

    def eof_received(self) -> bool:
        self._end_reading()
        return True  # keep the socket open: the other direction may still be sending

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = self.write_done = True
        self.link.incoming(self).drop()
        self._end_reading()
        self.link.side_lost()

    def finish_writing(self) -> None:
        """The other side's stream has ended: end ours, after what is still buffered."""
        self.write_done = True
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.read_done or not transport.can_write_eof():
            transport.close()
        else:
            transport.write_eof()

    def pause_writing(self) -> None:
        self.link.other(self).set_reading(False)

    def resume_writing(self) -> None:
        self.link.other(self).set_reading(True)

    def set_reading(self, reading: bool) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            if reading:
                transport.resume_reading()
            else:
                transport.pause_reading()

    def _end_reading(self) -> None:
        if self.read_done:
            return
        self.read_done = True
        self.link.outgoing(self).push(None)
        if self.write_done and self.transport is not None:
            self.transport.close()


class _Link:
    """One proxied connection: the client's socket, the server's, a pipe each way."""

    def __init__(self, proxy: _Proxy, loop: asyncio.AbstractEventLoop) -> None:
        self.proxy = proxy
        self.loop = loop
        self.client = _Side(self)
        self.server = _Side(self)
        self.up = _Pipe(proxy, loop, self.server, to_server=True)
        self.down = _Pipe(proxy, loop, self.client, to_server=False)
        self.first_chunk = True

    def forward(self, side: _Side, data: bytes) -> None:
        if side is self.client and self.first_chunk:
            self.first_chunk = False
            self.up.push(data, extra_s=self.proxy.rtt_s)  # the TCP handshake's round trip
        else:
            self.outgoing(side).push(data)

    def other(self, side: _Side) -> _Side:
        return self.server if side is self.client else self.client

    def outgoing(self, side: _Side) -> _Pipe:
        return self.up if side is self.client else self.down

    def incoming(self, side: _Side) -> _Pipe:
        return self.down if side is self.client else self.up

    def side_lost(self) -> None:
        if self.client.lost and (self.server.lost or self.server.transport is None):
            self.proxy.links.discard(self)

    async def open_upstream(self) -> None:
        upstream = self.proxy.upstream
        try:
            if upstream.path:
                await self.loop.create_unix_connection(lambda: self.server, upstream.path)
            else:
                await self.loop.create_connection(lambda: self.server, upstream.host,
                                                  upstream.port)
        except OSError:
            self.up.drop()
            if self.client.transport is not None:
                self.client.transport.close()
            return
        if self.client.lost:
            self.close()
        self.up.ready()

    def close(self) -> None:
        for side in (self.client, self.server):
            if side.transport is not None:
                side.transport.abort()


async def _serve(upstream: Upstream, settings: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    proxy = _Proxy(upstream, **settings)
    tasks: set[asyncio.Task[None]] = set()  # keep a reference until they are done

    def accept() -> _Side:
        link = _Link(proxy, loop)
        proxy.links.add(link)
        proxy.connections += 1
        opening = loop.create_task(link.open_upstream())
        tasks.add(opening)
        opening.add_done_callback(tasks.discard)
        return link.client

    server = await loop.create_server(accept, LOOPBACK, 0)
    _reply({"port": server.sockets[0].getsockname()[1]})
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    try:
        while line := await commands.readline():
            command = json.loads(line)
            if command["op"] == "delay":
                proxy.set_delay(command["rtt_ms"], command["jitter_ms"])
                _reply({"ok": True})
            elif command["op"] == "stats":
                _reply(proxy.stats())
                if command.get("reset"):
                    proxy.reset()
    finally:
        server.close()
        for link in list(proxy.links):
            link.close()


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    """The child's entry point: ``python -m harness.proxy SPEC`` (SPEC: JSON)."""
    spec = json.loads((argv if argv is not None else sys.argv[1:])[0])
    upstream = Upstream(**spec.pop("upstream"))
    selector = _PreciseSelector()
    selector.hot_poll_s = HOT_POLL_S
    with asyncio.Runner(loop_factory=lambda: asyncio.SelectorEventLoop(selector)) as runner:
        runner.run(_serve(upstream, spec))


if __name__ == "__main__":
    main()
