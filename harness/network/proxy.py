"""The latency proxy: a real TCP hop that puts the database a chosen round-trip time away.

On a laptop PostgreSQL answers in microseconds, which hides what round trips cost; the
case study's figures come from a database tens of milliseconds away.  Instead of
multiplying round trips by a latency, dalperf sends the traffic through this proxy and
measures::

    with LatencyProxy(Upstream.of_url(target.url)) as proxy:   # a child, loopback only
        proxy.set_delay(rtt_ms=20)
        engine = create_engine(sqlalchemy_url(proxy.url(target.url)))  # 20 ms away

What it does to the traffic:

- Every chunk read in one direction is forwarded half the round-trip time later
  (``rtt_ms / 2``), plus, with ``jitter_ms``, a uniform draw in ``±jitter_ms / 2``, so one
  round trip takes ``rtt_ms ± jitter_ms``.  Each chunk gets a deadline when it is read and
  is written when the deadline comes; back-to-back chunks therefore do not add up their
  delays, and a deadline is never earlier than the previous one in the same direction,
  so order is kept per direction and connection.
- A new connection's first chunk waits one round trip more: the client's TCP handshake
  with the proxy is instant on loopback, where over a network it takes a round trip
  before the client can send anything (:mod:`dalperf.capture.wire` counts it as one).
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

import contextlib
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import IO, Any, Self

import psycopg
from sqlalchemy.engine import URL

from dalperf.db import urls
from dalperf.errors import DatabaseUnreachable, EnvironmentProblem, ProxyDied
from dalperf.host import processes
from dalperf.network.proxy_child import LOOPBACK, Upstream, check_delay

START_TIMEOUT_S = 60.0  # the child imports the dalperf package first
REPLY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
OVERHEAD_ROUNDS = 200
OVERHEAD_BLOCK = 20  # measure_overhead's calls per side in a row
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True, kw_only=True)
class ProxyStats:
    """What the proxy forwarded since it started (or since the last reset).

    Chunks are counted per direction: a client that waits for each answer before it
    sends again sends one chunk per round trip (unless a message is too large for one),
    which makes ``chunks_to_server`` a check of the depth model.  ``lateness_ms`` is how much later than their deadline delayed chunks were written
    (median, 99th percentile, largest); chunks forwarded at once (RTT 0) are not in it.

    In counting mode (``LatencyProxy(count_turns=True)``) the proxy also counts
    request/response turns: each time a client sent bytes and then got the server's reply,
    whatever the number of chunks either way.  ``turns`` are those after a connection's
    start-up (its first ReadyForQuery), in total and per connection (``turns_by_connection``,
    keyed by the connection's number, only connections with turns since the reset);
    ``startup_turns`` the SSLRequest, start-up and authentication exchanges.  The TCP
    handshake is no turn here (the proxy simulates it by delaying the first chunk).
    """

    connections: int
    chunks_to_server: int
    chunks_to_client: int
    bytes: int
    delayed_chunks: int
    lateness_ms: dict[str, float]
    turns: int = 0
    startup_turns: int = 0
    turns_by_connection: dict[str, int] = field(default_factory=dict)


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
    from then on (connections stay open).  ``count_turns`` turns on the counting of
    request/response turns (:class:`ProxyStats`).
    """

    def __init__(
        self,
        upstream: Upstream,
        *,
        rtt_ms: float = 0.0,
        jitter_ms: float = 0.0,
        seed: int = 0,
        count_turns: bool = False,
    ) -> None:
        check_delay(rtt_ms, jitter_ms)
        self.upstream = upstream
        self._settings = {
            "rtt_ms": rtt_ms,
            "jitter_ms": jitter_ms,
            "seed": seed,
            "count_turns": count_turns,
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._buffer = b""
        self.port = 0

    def __enter__(self) -> Self:
        self._stderr = tempfile.TemporaryFile()
        spec = json.dumps({"upstream": asdict(self.upstream), **self._settings})
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "dalperf.network.proxy_child", spec],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                start_new_session=True,
                preexec_fn=processes.die_with_parent(),
            )
            ready = self._read_reply(START_TIMEOUT_S)
            self.port = int(ready["port"])
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def url(self, url: URL) -> URL:
        """``url`` (parsed, :func:`dalperf.db.urls.parse`) pointed at the proxy instead of the
        server."""
        query = {k: v for k, v in url.query.items() if k not in ("host", "hostaddr", "port")}
        return url.set(host=LOOPBACK, port=self.port, query=query)

    def set_delay(self, *, rtt_ms: float, jitter_ms: float = 0.0) -> None:
        """Delay every chunk read from now on by ``rtt_ms / 2 ± jitter_ms / 2``."""
        check_delay(rtt_ms, jitter_ms)
        self._ask({"op": "delay", "rtt_ms": rtt_ms, "jitter_ms": jitter_ms})

    def stats(self, *, reset: bool = False) -> ProxyStats:
        """What was forwarded so far; ``reset`` starts the counts again from zero."""
        return ProxyStats(**self._ask({"op": "stats", "reset": reset}))

    def check_alive(self, *, grace_s: float = 0.0) -> None:
        """Raise :class:`ProxyDied` if the proxy's process has exited (killed, crashed),
        waiting up to ``grace_s`` for a dying one: what looks like a lost database may be
        the proxy in front of it."""
        process = self._process
        if process is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace_s)
        if process.returncode is None:
            return
        code = process.returncode
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        raise ProxyDied(
            f"the latency proxy (pid {process.pid}) died mid-run ({how}); "
            "the database itself was not reached through it"
        )

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


def measure_overhead(
    direct_url: URL, proxied_url: URL, *, rounds: int = OVERHEAD_ROUNDS
) -> Overhead:
    """Median ``SELECT 1`` round trip on a direct connection and through the proxy.

    The proxy should be at RTT 0.  ``rounds`` statements per side are timed, the sides
    alternating in blocks of :data:`OVERHEAD_BLOCK` (the order flipping every other block),
    so drift in the machine's speed hits both alike.  Statement by statement would time
    direct ones while the proxy still polls after the last proxied one, sharing a CPU with
    it, so each block starts with one statement that is not timed.
    """
    samples: dict[bool, list[int]] = {False: [], True: []}
    try:
        with (
            psycopg.connect(
                urls.libpq_url(direct_url), autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            ) as direct,
            psycopg.connect(
                urls.libpq_url(proxied_url), autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            ) as proxied,
        ):
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
        raise DatabaseUnreachable(
            f"cannot measure the latency proxy's overhead: {str(exc).strip().splitlines()[-1]}"
        ) from exc
    ns_per_us = 1000
    return Overhead(
        direct_us=statistics.median(samples[False]) / ns_per_us,
        proxied_us=statistics.median(samples[True]) / ns_per_us,
        rounds=rounds,
    )
