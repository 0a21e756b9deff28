"""The latency proxy, against a real TCP echo server and the real embedded PostgreSQL.

Timing assertions here are bounds a correct proxy meets with a wide margin: a chunk can
never arrive before its delay (lower bounds are exact), and back-to-back chunks must not
add up their delays (upper bounds well below what a sequential proxy would take).
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from dalperf.capture.wire import psycopg as wire
from dalperf.db import urls
from dalperf.db.embedded import ServerStatus
from dalperf.errors import EnvironmentProblem, UsageError
from dalperf.network.proxy import LatencyProxy, measure_overhead
from dalperf.network.proxy_child import LOOPBACK, Upstream, _PreciseSelector

RTT_MS = 40.0


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture(scope="module")
def echo() -> Iterator[Upstream]:
    """A real TCP echo server on loopback (each connection on its own thread)."""
    server = socketserver.ThreadingTCPServer((LOOPBACK, 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Upstream(host=LOOPBACK, port=server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def proxy(echo: Upstream) -> Iterator[LatencyProxy]:
    with LatencyProxy(echo, seed=7) as running:
        yield running


@pytest.fixture(scope="module")
def pg_proxy(pg_server: ServerStatus) -> Iterator[LatencyProxy]:
    with LatencyProxy(Upstream.of_url(urls.parse(pg_server.url("postgres")))) as running:
        yield running


def connect(proxy: LatencyProxy) -> socket.socket:
    sock = socket.create_connection((LOOPBACK, proxy.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(10)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "connection closed early"
        data += chunk
    return data


def round_trip_ms(sock: socket.socket, payload: bytes = b"ping") -> float:
    start = time.perf_counter()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return (time.perf_counter() - start) * 1000


def test_a_round_trip_takes_the_rtt_and_the_delay_can_change(proxy: LatencyProxy) -> None:
    proxy.set_delay(rtt_ms=0)
    with connect(proxy) as sock:
        round_trip_ms(sock)  # the first chunk carries the handshake's round trip
        fast = min(round_trip_ms(sock) for _ in range(5))
        proxy.set_delay(rtt_ms=RTT_MS)
        slow = [round_trip_ms(sock) for _ in range(3)]
    assert fast < RTT_MS / 4
    assert min(slow) >= RTT_MS  # never early
    assert sorted(slow)[1] < 2 * RTT_MS


def test_back_to_back_chunks_do_not_add_up_their_delays(proxy: LatencyProxy) -> None:
    proxy.set_delay(rtt_ms=RTT_MS)
    with connect(proxy) as sock:
        round_trip_ms(sock)
        start = time.perf_counter()
        sent = b""
        for i in range(10):  # ten chunks, each a separate write, each echoed on its own
            chunk = f"<{i}>".encode()
            sock.sendall(chunk)
            sent += chunk
            time.sleep(0.002)
        received = recv_exactly(sock, len(sent))
        elapsed = (time.perf_counter() - start) * 1000
    assert received == sent
    assert RTT_MS <= elapsed < 3 * RTT_MS  # one sequential delay per chunk would be 10 x RTT


def test_jitter_varies_the_delay_but_keeps_order(proxy: LatencyProxy) -> None:
    proxy.set_delay(rtt_ms=20, jitter_ms=20)
    with connect(proxy) as sock:
        round_trip_ms(sock)
        times = []
        sent = b""
        for i in range(40):
            chunk = f"[{i}]".encode()
            sock.sendall(chunk)
            sent += chunk
            times.append(time.perf_counter())
            time.sleep(0.001)
        received = recv_exactly(sock, len(sent))
        trips = [round_trip_ms(sock) for _ in range(8)]
    assert received == sent  # no reordering, although later chunks drew shorter delays
    assert min(trips) >= 10 - 1  # rtt - jitter/2 each way, less rounding
    assert max(trips) - min(trips) > 1  # the delay does vary


def test_a_new_connection_waits_one_round_trip_for_the_handshake(proxy: LatencyProxy) -> None:
    proxy.set_delay(rtt_ms=RTT_MS)
    with connect(proxy) as sock:
        first = round_trip_ms(sock)
        second = round_trip_ms(sock)
    assert first >= 2 * RTT_MS
    assert second < first


def test_postgres_connection_set_up_costs_what_the_depth_model_counts(
    pg_server: ServerStatus, pg_proxy: LatencyProxy
) -> None:
    proxied = urls.libpq_url(pg_proxy.url(urls.parse(pg_server.url("postgres"))))
    pg_proxy.set_delay(rtt_ms=RTT_MS)
    pg_proxy.stats(reset=True)
    start = time.perf_counter()
    with psycopg.connect(proxied, autocommit=True) as conn:
        elapsed = (time.perf_counter() - start) * 1000
        trips = wire.connect_round_trips(conn)
        assert conn.execute("SELECT 1").fetchone() == (1,)
        stats = pg_proxy.stats()
    assert trips == 3  # TCP handshake, SSLRequest, start-up (trust, no SSL)
    assert trips * RTT_MS <= elapsed < (trips + 1) * RTT_MS
    # SSLRequest, start-up, SELECT 1: one chunk each way, each delayed
    assert stats.connections == 1
    assert stats.chunks_to_server == stats.chunks_to_client == 3 == stats.delayed_chunks / 2
    assert 0 <= stats.lateness_ms["p50"] <= stats.lateness_ms["max"] < RTT_MS


def test_closing_is_forwarded_after_the_data(proxy: LatencyProxy) -> None:
    proxy.set_delay(rtt_ms=RTT_MS)
    with connect(proxy) as sock:
        round_trip_ms(sock)
        start = time.perf_counter()
        sock.sendall(b"last words")
        sock.shutdown(socket.SHUT_WR)  # the echo server sees EOF after the data, then closes
        assert recv_exactly(sock, 10) == b"last words"
        assert sock.recv(10) == b""
        assert (time.perf_counter() - start) * 1000 >= RTT_MS


def test_an_unreachable_upstream_closes_the_client_connection(proxy: LatencyProxy) -> None:
    with socket.socket() as holder:  # a port with nothing listening on it
        holder.bind((LOOPBACK, 0))
        closed_port = holder.getsockname()[1]
    second = LatencyProxy(Upstream(host=LOOPBACK, port=closed_port))
    with second, connect(second) as sock:
        assert second.port not in (0, proxy.port)  # each proxy on a free port of its own
        sock.sendall(b"hello")
        try:
            data = sock.recv(10)
        except ConnectionResetError:  # a reset is a close too
            data = b""
        process = second._process
    assert data == b""
    assert process is not None and process.returncode == 0  # stdin closed: exits by itself


def test_forwards_to_a_unix_socket(pg_server: ServerStatus) -> None:
    socket_dir = str(pg_server.data_dir)
    upstream = Upstream.of_url(
        urls.parse(f"postgresql://postgres@/postgres?host={socket_dir}&port={pg_server.port}")
    )
    assert upstream.path == f"{socket_dir}/.s.PGSQL.{pg_server.port}"
    url = f"postgresql://postgres@localhost/postgres?host={socket_dir}&port={pg_server.port}"
    with LatencyProxy(upstream) as proxy:
        proxied = urls.libpq_url(proxy.url(urls.parse(url)))
        assert f"@{LOOPBACK}:{proxy.port}/postgres" in proxied and "host=" not in proxied
        with psycopg.connect(proxied, autocommit=True) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
            assert conn.info.host == LOOPBACK


def test_url_points_at_the_proxy_and_keeps_the_rest(proxy: LatencyProxy) -> None:
    proxied = urls.libpq_url(
        proxy.url(urls.parse("postgresql://me:s3cret@db.example:6543/app?sslmode=disable"))
    )
    assert proxied == f"postgresql://me:s3cret@{LOOPBACK}:{proxy.port}/app?sslmode=disable"


def test_listens_on_loopback_only(proxy: LatencyProxy) -> None:
    with pytest.raises(ConnectionRefusedError):  # another loopback address: nothing there
        socket.create_connection(("127.0.0.2", proxy.port), timeout=5).close()


def test_bad_settings_are_usage_errors(echo: Upstream) -> None:
    with pytest.raises(UsageError, match="round-trip time"):
        LatencyProxy(echo, rtt_ms=-1)
    with pytest.raises(UsageError, match="jitter"):
        LatencyProxy(echo, jitter_ms=float("nan"))
    with pytest.raises(UsageError, match="host"):
        Upstream.of_url(urls.parse("postgresql://postgres@/db"))
    with pytest.raises(UsageError):
        Upstream()


def test_a_dead_proxy_is_an_environment_problem(echo: Upstream) -> None:
    proxy = LatencyProxy(echo)
    with proxy:
        assert proxy._process is not None
        os.kill(proxy._process.pid, signal.SIGKILL)  # the child this test started
        with pytest.raises(EnvironmentProblem, match="latency proxy exited"):
            proxy.set_delay(rtt_ms=5)
    assert proxy._process is None


def test_measure_overhead_compares_direct_and_proxied(
    pg_server: ServerStatus, pg_proxy: LatencyProxy
) -> None:
    url = urls.parse(pg_server.url("postgres"))
    pg_proxy.set_delay(rtt_ms=0)
    pg_proxy.stats(reset=True)
    overhead = measure_overhead(url, pg_proxy.url(url), rounds=50)
    stats = pg_proxy.stats()
    assert overhead.rounds == 50 and overhead.direct_us > 0 and overhead.proxied_us > 0
    assert overhead.as_dict()["added_us"] == pytest.approx(overhead.proxied_us - overhead.direct_us)
    assert stats.chunks_to_server >= 60  # 10 warm-up + 50 measured statements, and set-up


def _waits(monkeypatch: pytest.MonkeyPatch) -> list[float | None]:
    """The timeouts the selector's underlying epoll is called with, from now on."""
    waits: list[float | None] = []
    underlying = selectors.DefaultSelector.select

    def recording(self: selectors.BaseSelector, timeout: float | None = None) -> list[object]:
        waits.append(timeout)
        return underlying(self, timeout)  # type: ignore[arg-type]

    monkeypatch.setattr(selectors.DefaultSelector, "select", recording)
    return waits


def _select_after_traffic(
    hot_poll_s: float, next_data_after_s: float, monkeypatch: pytest.MonkeyPatch
) -> list[float | None]:
    """Traffic, then a select with no timeout while the next data comes after a pause."""
    ours, theirs = socket.socketpair()
    with ours, theirs, _PreciseSelector() as selector:
        selector.hot_poll_s = hot_poll_s
        selector.register(ours, selectors.EVENT_READ)
        theirs.send(b"first")
        assert selector.select(None)
        ours.recv(16)
        waits = _waits(monkeypatch)
        sender = threading.Timer(next_data_after_s, theirs.send, args=(b"second",))
        sender.start()
        selector.last_ready = time.monotonic()  # as if the traffic came just now
        try:
            assert selector.select(None)
        finally:
            sender.join()
    return waits


def test_the_selector_polls_right_after_traffic(monkeypatch: pytest.MonkeyPatch) -> None:
    waits = _select_after_traffic(0.5, 0.01, monkeypatch)
    assert len(waits) > 1 and set(waits) == {0}  # never went to sleep


def test_the_selector_sleeps_once_the_hot_time_is_over(monkeypatch: pytest.MonkeyPatch) -> None:
    waits = _select_after_traffic(0.01, 0.2, monkeypatch)
    assert waits[0] == 0 and waits[-1] is None  # polled, then slept until the data came


def test_the_selector_sleeps_at_once_when_not_hot(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _select_after_traffic(0.0, 0.01, monkeypatch) == [None]


def test_a_timeout_running_out_makes_the_selector_hot(monkeypatch: pytest.MonkeyPatch) -> None:
    """In the proxy a timeout runs out when a delayed chunk comes due and is written: the
    server's answer to it should be picked up at once too."""
    ours, theirs = socket.socketpair()
    with ours, theirs, _PreciseSelector() as selector:
        selector.hot_poll_s = 0.5
        selector.register(ours, selectors.EVENT_READ)
        assert selector.select(0.001) == []
        waits = _waits(monkeypatch)
        sender = threading.Timer(0.01, theirs.send, args=(b"answer",))
        sender.start()
        try:
            assert selector.select(None)
        finally:
            sender.join()
    assert len(waits) > 1 and set(waits) == {0}


def test_the_proxy_child_runs_at_normal_priority(proxy: LatencyProxy) -> None:
    """A proxy that polls must not take a CPU away from the client or the server."""
    assert proxy._process is not None
    assert os.sched_getscheduler(proxy._process.pid) == os.SCHED_OTHER
