"""The history store: results files kept per commit in a SQLite file or a PostgreSQL database.

One schema (:mod:`dalperf.history.tables`) through SQLAlchemy Core, created and upgraded
by the store's own migrations (:mod:`dalperf.history.migrations`) whenever a store is
opened.  Where it is (:func:`locate`): ``--history URL``, else ``$DALPERF_HISTORY_URL``, else
``history.sqlite`` in the dalperf home (``--home``, ``$DALPERF_HOME``, ``./.dalperf``).  A
PostgreSQL URL is shown with its password masked, always.

Adding a results file (:meth:`Store.add`) is one transaction: the series' comparability is
checked (the first results of a series fix its scale, seed, schema and results version),
the result row and its points are inserted, and a kill at any moment leaves the store as it
was.  The content digest is unique, so adding the same file twice, or from two CI jobs at
once, adds it once: on PostgreSQL the second insert waits for the first and then does
nothing; on SQLite every write transaction starts ``BEGIN IMMEDIATE`` (writers queue, with a
busy timeout) instead of failing when two upgrade their read locks at once, and reading
transactions a plain ``BEGIN`` (they do not wait for a writer to finish).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Connection, Engine, and_, create_engine, delete, event, func, select
from sqlalchemy.exc import DatabaseError, OperationalError

from dalperf.errors import DatabaseUnreachable, UsageError
from dalperf.history import migrations, tables
from dalperf.history.ingest import Comparability, Ingested
from dalperf.history.model import Commit, Point, SeriesKey
from dalperf.project.settings import resolve_one

URL_ENV = "DALPERF_HISTORY_URL"
DEFAULT_FILE = "history.sqlite"
DEFAULT_SERIES = "default"
SQLITE_BUSY_TIMEOUT_S = 60
PG_CONNECT_TIMEOUT_S = 10
MAX_NAMES_IN_QUERY = 500  # beyond, the key filter runs in Python
READ_OPTION = "dalperf_history_read"  # execution option of a transaction that only reads


@dataclass(frozen=True, slots=True)
class Location:
    """Where a store is: the SQLAlchemy URL (password included: never print it) and the
    form to show (password masked)."""

    url: str
    display: str

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


def locate(given: str | None = None, *, home: Path | None = None) -> Location:
    """The store ``--history`` names (a PostgreSQL URL, ``sqlite:///path`` or a file path),
    else ``$DALPERF_HISTORY_URL``, else the SQLite file in the dalperf home."""
    text = given or os.environ.get(URL_ENV) or ""
    if not text.strip():
        folder = resolve_one("home", home, None)[0].expanduser()
        return _sqlite(folder / DEFAULT_FILE)
    if text.startswith("sqlite:"):
        path = text.removeprefix("sqlite:").removeprefix("///")
        if not path or path == ":memory:":
            raise UsageError("a history store in memory keeps nothing; give a file")
        return _sqlite(Path(path))
    if "://" in text or ("=" in text and "/" not in text):
        from dalperf.db import urls

        parsed = urls.parse(text)
        return Location(url=urls.sqlalchemy_url(parsed), display=urls.masked(parsed))
    return _sqlite(Path(text))


def _sqlite(path: Path) -> Location:
    resolved = path.expanduser().resolve()
    return Location(url=f"sqlite:///{resolved}", display=str(resolved))


@dataclass(frozen=True, slots=True)
class StoredResult:
    """One results file in the store: its row id, digest, kind, series and commit."""

    id: int
    digest: str
    kind: str
    series: str
    commit: Commit
    added_at: datetime
    source: str
    points: int = 0


@dataclass(frozen=True, slots=True)
class Added:
    """What :meth:`Store.add` did: ``added`` is False when the file was there already."""

    result: StoredResult
    added: bool


class Store:
    """An open history store (use as a context manager, or :meth:`close` it)."""

    def __init__(self, location: Location) -> None:
        self.location = location
        self.engine = _engine(location)
        try:
            with self._transaction(read=True) as conn:
                version = migrations.current(conn)
            if version != migrations.LATEST:
                with self._transaction() as conn:  # under the write lock, checked again
                    migrations.upgrade(conn, where=location.display)
        except BaseException:
            self.engine.dispose()
            raise

    @classmethod
    def open(cls, given: str | None = None, *, home: Path | None = None) -> Store:
        """The store :func:`locate` finds, created or upgraded as needed."""
        return cls(locate(given, home=home))

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, *, read: bool = False) -> Iterator[Connection]:
        """One transaction (on SQLite a ``read`` one takes no write lock); driver errors
        become one-line dalperf errors naming the store."""
        try:
            with (
                self.engine.connect() as conn,
                conn.execution_options(**{READ_OPTION: read}).begin(),
            ):
                yield conn
        except OperationalError as exc:
            raise DatabaseUnreachable(
                f"history store {self.location.display}: {_reason(exc)}"
            ) from exc
        except DatabaseError as exc:
            raise UsageError(f"history store {self.location.display}: {_reason(exc)}") from exc

    # ----------------------------------------------------------------------------------
    # writing
    # ----------------------------------------------------------------------------------

    def add(self, ingested: Ingested, commit: Commit, *, series: str = DEFAULT_SERIES) -> Added:
        """Add one results file measured at ``commit``, in one transaction; nothing when
        its digest is in the store already. Results another series' comparability refuses
        raise :class:`UsageError` and add nothing."""
        r = tables.results
        with self._transaction() as conn:
            existing = self._by_digest(conn, ingested.digest)
            if existing is not None:
                return Added(existing, added=False)
            self._check_series(conn, ingested, series)
            now = datetime.now(UTC)
            row_id = conn.execute(
                _insert(conn, r)
                .values(
                    digest=ingested.digest,
                    kind=ingested.kind,
                    series=series,
                    sha=commit.sha,
                    branch=commit.branch,
                    subject=commit.subject,
                    commit_time=tables.utc(commit.time),
                    added_at=now,
                    source=ingested.source,
                    environment=ingested.environment,
                )
                .on_conflict_do_nothing(index_elements=["digest"])
                .returning(r.c.id)
            ).scalar()
            if row_id is None:  # another writer added the same file meanwhile
                return Added(self._by_digest(conn, ingested.digest), added=False)  # type: ignore[arg-type]
            if ingested.figures:
                conn.execute(
                    tables.points.insert(),
                    [
                        {
                            "result_id": row_id,
                            "name": f.name,
                            "queries": f.queries,
                            "round_trips": f.round_trips,
                            "network_round_trips": f.network_round_trips,
                            "buffers": f.buffers,
                            "rows_fetched": f.rows_fetched,
                            "p50_ms": f.p50_ms,
                            "p95_ms": f.p95_ms,
                            "p95_low_ms": f.p95_low_ms,
                            "p95_high_ms": f.p95_high_ms,
                            "plan_shapes": json.dumps(list(f.plan_shapes)),
                            "samples_ms": tables.pack_samples(f.samples_ms),
                        }
                        for f in ingested.figures
                    ],
                )
            stored = StoredResult(
                id=row_id,
                digest=ingested.digest,
                kind=ingested.kind,
                series=series,
                commit=commit,
                added_at=now,
                source=ingested.source,
                points=len(ingested.figures),
            )
            return Added(stored, added=True)

    def _check_series(self, conn: Connection, ingested: Ingested, series: str) -> None:
        s = tables.series
        mine = ingested.comparability
        conn.execute(
            _insert(conn, s)
            .values(
                kind=ingested.kind,
                series=series,
                scale=mine.scale,
                seed=mine.seed,
                schema=mine.schema,
                results_version=mine.results_version,
            )
            .on_conflict_do_nothing(index_elements=["kind", "series"])
        )
        held = conn.execute(
            select(s.c.scale, s.c.seed, s.c.schema, s.c.results_version).where(
                s.c.kind == ingested.kind, s.c.series == series
            )
        ).one()
        differences = mine.differences(Comparability(*held))
        if differences:
            raise UsageError(
                f"{ingested.source} is not comparable with {ingested.kind} series "
                f"{series!r}: {'; '.join(differences)}; add it with "
                "--series NAME to keep it apart"
            )

    def prune(
        self,
        *,
        keep: int | None = None,
        before: datetime | None = None,
        branch: str | None = None,
        dry_run: bool = False,
    ) -> list[StoredResult]:
        """Delete whole results (their points with them): those of ``branch`` (every branch
        when None) older than ``before``, or beyond the newest ``keep`` per branch, kind and
        series; the results deleted (or that would be, with ``dry_run``)."""
        if keep is None and before is None and branch is None:
            raise UsageError("prune needs --keep, --before or --branch")
        with self._transaction() as conn:
            chosen = []
            groups: dict[tuple[str, str, str], int] = {}
            for stored in reversed(self._results(conn, branch=branch)):
                group = (stored.commit.branch, stored.kind, stored.series)
                groups[group] = groups.get(group, 0) + 1
                old = before is not None and stored.commit.time < tables.utc(before)
                surplus = keep is not None and groups[group] > keep
                if old or surplus or (keep is None and before is None):
                    chosen.append(stored)
            if chosen and not dry_run:
                ids = [s.id for s in chosen]
                for start in range(0, len(ids), MAX_NAMES_IN_QUERY):
                    part = ids[start : start + MAX_NAMES_IN_QUERY]
                    conn.execute(delete(tables.points).where(tables.points.c.result_id.in_(part)))
                    conn.execute(delete(tables.results).where(tables.results.c.id.in_(part)))
            return chosen

    # ----------------------------------------------------------------------------------
    # reading
    # ----------------------------------------------------------------------------------

    def points(
        self, branch: str | None = "main", keys: Iterable[SeriesKey] | None = None
    ) -> list[Point]:
        """Every point of ``branch`` (every branch when None), of ``keys`` only when given,
        ordered by commit time, then by insertion (oldest first)."""
        r, p = tables.results, tables.points
        wanted = set(keys) if keys is not None else None
        on_results = [r.c.branch == branch] if branch is not None else []
        on_points = []
        if wanted is not None:
            if not wanted:
                return []
            on_results.append(r.c.kind.in_({k.kind for k in wanted}))
            names = {k.name for k in wanted}
            if len(names) <= MAX_NAMES_IN_QUERY:
                on_points.append(p.c.name.in_(names))
        with self._transaction(read=True) as conn:
            found = [point for _, point in _read_points(conn, on_results, on_points)]
        return found if wanted is None else [pt for pt in found if pt.key in wanted]

    def results(
        self,
        *,
        branch: str | None = None,
        kind: str | None = None,
        series: str | None = None,
        limit: int | None = None,
    ) -> list[StoredResult]:
        """The results in the store, oldest commit first (the newest ``limit`` of them)."""
        with self._transaction(read=True) as conn:
            return self._results(conn, branch=branch, kind=kind, series=series, limit=limit)

    def find(self, ref: str) -> list[StoredResult]:
        """The results a reference names: a result id (``#12`` or ``12``), or a commit sha
        or its prefix (at least 4 characters)."""
        r = tables.results
        text = ref.strip().removeprefix("#")
        if text.isdigit() and (ref.startswith("#") or len(text) < 4):
            condition = r.c.id == int(text)
        elif len(text) >= 4 and all(c in "0123456789abcdefABCDEF" for c in text):
            condition = r.c.sha.startswith(text.lower(), autoescape=True)
        else:
            raise UsageError(
                f"{ref!r} names no result: give a result id (#12) or a commit "
                "sha (at least 4 hex digits)"
            )
        with self._transaction(read=True) as conn:
            return self._results(conn, condition=condition)

    def result_points(self, result_id: int) -> list[Point]:
        """The points of one result, in the order of its file."""
        with self._transaction(read=True) as conn:
            return [point for _, point in _read_points(conn, [tables.results.c.id == result_id])]

    def window(
        self, *, kind: str, series: str, branch: str, size: int, exclude_sha: str | None = None
    ) -> list[tuple[StoredResult, dict[str, Point]]]:
        """The newest ``size`` results of ``branch`` of one kind and series (not those of
        commit ``exclude_sha``), oldest first, each with its points by key name."""
        r = tables.results
        condition = and_(r.c.branch == branch, r.c.kind == kind, r.c.series == series)
        if exclude_sha:
            condition = and_(condition, r.c.sha != exclude_sha)
        with self._transaction(read=True) as conn:
            chosen = self._results(conn, condition=condition, limit=size)
            ids = [s.id for s in chosen]
            read = _read_points(conn, [r.c.id.in_(ids)]) if ids else []
        by_result: dict[int, dict[str, Point]] = {i: {} for i in ids}
        for result_id, point in read:
            by_result[result_id][point.key.name] = point
        return [(s, by_result[s.id]) for s in chosen]

    def has_commit(self, sha: str, *, kind: str, series: str, branch: str) -> bool:
        """Whether results of ``kind`` and ``series`` measured at ``sha`` on ``branch`` are in."""
        r = tables.results
        with self._transaction(read=True) as conn:
            return (
                conn.execute(
                    select(r.c.id)
                    .where(
                        r.c.sha == sha, r.c.kind == kind, r.c.series == series, r.c.branch == branch
                    )
                    .limit(1)
                ).first()
                is not None
            )

    def comparability(self, kind: str, series: str) -> Comparability | None:
        """What the series holds, or None for a series with no results yet."""
        s = tables.series
        with self._transaction(read=True) as conn:
            row = conn.execute(
                select(s.c.scale, s.c.seed, s.c.schema, s.c.results_version).where(
                    s.c.kind == kind, s.c.series == series
                )
            ).first()
        return Comparability(*row) if row is not None else None

    def _by_digest(self, conn: Connection, digest: str) -> StoredResult | None:
        found = self._results(conn, condition=tables.results.c.digest == digest)
        return found[0] if found else None

    def _results(
        self,
        conn: Connection,
        *,
        branch: str | None = None,
        kind: str | None = None,
        series: str | None = None,
        condition: Any = None,
        limit: int | None = None,
    ) -> list[StoredResult]:
        r, p = tables.results, tables.points
        counts = select(p.c.result_id, func.count().label("n")).group_by(p.c.result_id).subquery()
        query = select(
            r.c.id,
            r.c.digest,
            r.c.kind,
            r.c.series,
            r.c.sha,
            r.c.subject,
            r.c.commit_time,
            r.c.branch,
            r.c.added_at,
            r.c.source,
            counts.c.n,
        ).outerjoin(counts, counts.c.result_id == r.c.id)
        for column, value in ((r.c.branch, branch), (r.c.kind, kind), (r.c.series, series)):
            if value is not None:
                query = query.where(column == value)
        if condition is not None:
            query = query.where(condition)
        if limit is not None:
            query = query.order_by(r.c.commit_time.desc(), r.c.id.desc()).limit(limit)
        else:
            query = query.order_by(r.c.commit_time, r.c.id)
        rows = conn.execute(query).all()
        found = [
            StoredResult(
                id=row.id,
                digest=row.digest,
                kind=row.kind,
                series=row.series,
                commit=Commit(
                    sha=row.sha,
                    subject=row.subject,
                    time=tables.utc(row.commit_time),
                    branch=row.branch,
                ),
                added_at=tables.utc(row.added_at),
                source=row.source,
                points=row.n or 0,
            )
            for row in rows
        ]
        return found[::-1] if limit is not None else found


def _read_points(
    conn: Connection, on_results: list[Any], on_points: Sequence[Any] = ()
) -> list[tuple[int, Point]]:
    """``(result id, point)`` of the results ``on_results`` selects (and the points
    ``on_points`` does), by commit time, result and insertion. The commits are read first,
    one per result, and shared by their points, as are equal keys and plan shapes."""
    r, p = tables.results, tables.points
    heads: dict[int, tuple[Commit, str, str]] = {}
    for result_id, kind, series, sha, subject, moment, branch in conn.execute(
        select(
            r.c.id, r.c.kind, r.c.series, r.c.sha, r.c.subject, r.c.commit_time, r.c.branch
        ).where(*on_results)
    ):
        heads[result_id] = (
            Commit(sha=sha, subject=subject, time=tables.utc(moment), branch=branch),
            kind,
            series,
        )
    rows = conn.execute(
        select(
            p.c.result_id,
            p.c.name,
            p.c.queries,
            p.c.round_trips,
            p.c.network_round_trips,
            p.c.buffers,
            p.c.rows_fetched,
            p.c.p50_ms,
            p.c.p95_ms,
            p.c.p95_low_ms,
            p.c.p95_high_ms,
            p.c.plan_shapes,
            p.c.samples_ms,
        )
        .join(r, r.c.id == p.c.result_id)
        .where(*on_results, *on_points)
        .order_by(r.c.commit_time, r.c.id, p.c.id)
    ).all()
    keys: dict[tuple[str, str, str], SeriesKey] = {}
    shapes: dict[str, tuple[str, ...]] = {}
    found = []
    for (
        result_id,
        name,
        queries,
        round_trips,
        network_round_trips,
        buffers,
        rows_fetched,
        p50,
        p95,
        p95_low,
        p95_high,
        shape_text,
        samples,
    ) in rows:
        head = heads.get(result_id)
        if head is None:  # added between the two statements (PostgreSQL, read committed)
            continue
        commit, kind, series = head
        key = keys.get((kind, name, series))
        if key is None:
            key = keys[(kind, name, series)] = SeriesKey(kind=kind, name=name, series=series)
        plan_shapes = shapes.get(shape_text)
        if plan_shapes is None:
            plan_shapes = shapes[shape_text] = tuple(json.loads(shape_text))
        found.append(
            (
                result_id,
                Point(
                    commit=commit,
                    key=key,
                    queries=queries,
                    round_trips=round_trips,
                    network_round_trips=network_round_trips,
                    buffers=buffers,
                    rows_fetched=rows_fetched,
                    p50_ms=p50,
                    p95_ms=p95,
                    p95_low_ms=p95_low,
                    p95_high_ms=p95_high,
                    plan_shapes=plan_shapes,
                    samples_ms=tables.unpack_samples(samples),
                ),
            )
        )
    return found


def _insert(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_nothing``."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _engine(location: Location) -> Engine:
    if not location.is_sqlite:
        return create_engine(location.url, connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S})
    path = Path(location.url.removeprefix("sqlite:///"))
    if path.is_dir():
        raise UsageError(f"history store {path} is a folder; give a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create the folder of history store {path}: {exc.strerror}"
        ) from exc
    engine = create_engine(location.url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions begun below, not by sqlite3
        dbapi_connection.execute("PRAGMA foreign_keys = ON")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        read = conn.get_execution_options().get(READ_OPTION)
        conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

    return engine


def _reason(exc: DatabaseError) -> str:
    """The driver's first line, without SQLAlchemy's statement and background link."""
    from dalperf.db.urls import redact

    original = getattr(exc, "orig", None) or exc
    return redact(str(original).strip().partition("\n")[0])
