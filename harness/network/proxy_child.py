"""The latency proxy's child process: the event loop that forwards and delays the traffic.

Started by :class:`dalperf.network.proxy.LatencyProxy` as
``python -m dalperf.network.proxy_child SPEC`` and steered with JSON lines on its stdin;
it imports nothing heavier than the standard library, so it starts fast and shares no GIL
with the process it measures.  See :mod:`dalperf.network.proxy` for what it does to the
traffic and why.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import selectors
import socket
import statistics
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dalperf.errors import UsageError
from dalperf.project.settings import MAX_DELAY_MS

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

LOOPBACK = "127.0.0.1"
DEFAULT_PG_PORT = 5432
HOT_POLL_S = 0.0005  # at RTT 0, keep polling this long after traffic instead of sleeping
COARSE_MARGIN_S = 0.002  # wait in the selector up to this long before a timer
FINE_STEP_S = 0.0001  # then poll between sleeps this short
SPIN_S = 0.00008  # and without sleeping for the last stretch (sleep overshoots by ~50 µs)
DUE_SLACK_S = 1e-6  # a chunk this close to its deadline is due
MS_PER_S = 1000.0
# the untyped requests a PostgreSQL client may send before its start-up message, each
# answered by a single byte (N: no, S/G: yes, encryption follows)
_ENCRYPTION_REQUESTS = (80877103, 80877104)  # SSLRequest, GSSENCRequest
_READY_FOR_QUERY = ord("Z")
_HEADER = 5  # a typed message: its type byte and a 4-byte length that counts itself


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
    def of_url(cls, parsed: URL) -> Upstream:
        """The server a parsed PostgreSQL URL (:func:`dalperf.db.urls.parse`) names; a host
        starting with ``/`` is a socket folder."""
        from dalperf.db import urls

        host = parsed.host or parsed.query.get("host") or ""
        if isinstance(host, tuple):
            host = host[0]
        port_text = parsed.port or parsed.query.get("port") or DEFAULT_PG_PORT
        port = int(port_text[0] if isinstance(port_text, tuple) else port_text)
        if not host:
            raise UsageError(
                f"the latency proxy needs a host in the database URL "
                f"({urls.masked(parsed)}); give host=/socket/folder for a unix socket"
            )
        if host.startswith("/"):
            return cls(path=f"{host}/.s.PGSQL.{port}")
        return cls(host=host, port=port)


def check_delay(rtt_ms: float, jitter_ms: float = 0.0) -> None:
    """Refuse a simulated round-trip time or jitter that is negative, not finite, or above
    :data:`MAX_DELAY_MS` (a delay no network has, which would only hang the run)."""
    for name, value in (
        ("round-trip time (--rtt-ms)", rtt_ms),
        ("jitter (--jitter-ms)", jitter_ms),
    ):
        if not (math.isfinite(value) and 0 <= value <= MAX_DELAY_MS):
            raise UsageError(
                f"the simulated {name} must be a number of milliseconds from 0 "
                f"to {MAX_DELAY_MS:,.0f}, not {value:g}"
            )


class _PreciseSelector(selectors.DefaultSelector):
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

    def __init__(
        self,
        upstream: Upstream,
        *,
        rtt_ms: float,
        jitter_ms: float,
        seed: int,
        count_turns: bool = False,
    ) -> None:
        self.upstream = upstream
        self.rng = random.Random(seed)
        self.count_turns = count_turns
        self.links: set[_Link] = set()
        self.opened = 0  # links ever opened: a link's number
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
        self.startup_turns = 0
        self.turns: dict[int, int] = {}  # link number -> session turns

    def one_way_s(self) -> float:
        delay = self.rtt_s / 2
        if self.jitter_s:
            delay += self.rng.uniform(-self.jitter_s / 2, self.jitter_s / 2)
        return max(delay, 0.0)

    def stats(self) -> dict[str, Any]:
        late = sorted(self.lateness_s)
        summary = (
            {
                "p50": statistics.median(late) * MS_PER_S,
                "p99": late[min(len(late) - 1, int(0.99 * len(late)))] * MS_PER_S,
                "max": late[-1] * MS_PER_S,
            }
            if late
            else {}
        )
        return {
            "connections": self.connections,
            "chunks_to_server": self.chunks[True],
            "chunks_to_client": self.chunks[False],
            "bytes": self.bytes,
            "delayed_chunks": len(late),
            "lateness_ms": summary,
            "turns": sum(self.turns.values()),
            "startup_turns": self.startup_turns,
            "turns_by_connection": {str(n): t for n, t in sorted(self.turns.items())},
        }


class _TurnCounter:
    """Request/response turns of one link: each time the client sent bytes and the server's
    reply came next (a burst of client chunks followed by server bytes is one turn).

    Turns up to the server's first ReadyForQuery are start-up turns (the SSLRequest, the
    start-up message, authentication); the server's stream is parsed only that far.  After
    an accepted SSL or GSS request the stream is encrypted, so from then on every turn
    counts as a session turn.  A client burst the server never answers (Terminate) is no
    turn.
    """

    def __init__(self, proxy: _Proxy, number: int) -> None:
        self.proxy = proxy
        self.number = number
        self.client_spoke = False
        self.startup = True
        self.answers_pending = 0  # single-byte answers to encryption requests
        self.buffer = b""

    def from_client(self, data: bytes) -> None:
        if (
            self.startup
            and len(data) >= 8
            and int.from_bytes(data[4:8], "big") in _ENCRYPTION_REQUESTS
        ):
            self.answers_pending += 1
        self.client_spoke = True

    def from_server(self, data: bytes) -> None:
        if self.client_spoke:
            self.client_spoke = False
            proxy = self.proxy
            if self.startup:
                proxy.startup_turns += 1
            else:
                proxy.turns[self.number] = proxy.turns.get(self.number, 0) + 1
        if self.startup:
            self._scan(data)

    def _scan(self, data: bytes) -> None:
        buffer = self.buffer + data
        while buffer:
            if self.answers_pending:
                self.answers_pending -= 1
                answer, buffer = buffer[:1], buffer[1:]
                if answer != b"N":  # encrypted from here on: stop parsing
                    self.startup, buffer = False, b""
                continue
            if len(buffer) < _HEADER:
                break
            length = int.from_bytes(buffer[1:_HEADER], "big")
            if len(buffer) < 1 + length:
                break
            if buffer[0] == _READY_FOR_QUERY:
                self.startup, buffer = False, b""
                break
            buffer = buffer[1 + length :]
        self.buffer = buffer


class _Pipe:
    """One direction of one link: chunks waiting for their deadline, then the side they go to."""

    def __init__(
        self, proxy: _Proxy, loop: asyncio.AbstractEventLoop, target: _Side, *, to_server: bool
    ) -> None:
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
        if delay == 0 and not self.queue and self.target.transport is not None and data is not None:
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
        proxy.opened += 1
        self.counter = _TurnCounter(proxy, proxy.opened) if proxy.count_turns else None

    def forward(self, side: _Side, data: bytes) -> None:
        counter = self.counter
        if counter is not None:
            if side is self.client:
                counter.from_client(data)
            else:
                counter.from_server(data)
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
                await self.loop.create_connection(lambda: self.server, upstream.host, upstream.port)
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
    """The child's entry point: ``python -m dalperf.network.proxy_child SPEC`` (SPEC: JSON)."""
    spec = json.loads((argv if argv is not None else sys.argv[1:])[0])
    upstream = Upstream(**spec.pop("upstream"))
    selector = _PreciseSelector()
    selector.hot_poll_s = HOT_POLL_S
    with asyncio.Runner(loop_factory=lambda: asyncio.SelectorEventLoop(selector)) as runner:
        runner.run(_serve(upstream, spec))


if __name__ == "__main__":
    main()
