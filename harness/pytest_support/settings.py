"""The plugin's options and ini keys, read and validated once per session.

Everything here is standard library only: it runs at ``pytest_configure`` in every session,
so it must stay as light as the plugin module.  A bad value is a :class:`pytest.UsageError`
naming the option (pytest prints it on one line and exits with code 4).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dalperf.errors import describe

MODES = ("fail", "warn", "off")
DATABASE_URL_ENV = "DALPERF_DATABASE_URL"
DEFAULT_IMAGE = "postgres:17"
DOCKER = "docker"
DEFAULT_MODE = "fail"
# where the repeats of a finding must happen (dalperf.capture.findings.RepeatScope)
REPEAT_SCOPES = ("unit", "test")
DEFAULT_REPEAT_SCOPE = "unit"
DEFAULT_RTT_MS = 1.0
# ini key -> (default, what it counts); see dalperf.capture.findings.Thresholds
THRESHOLDS = {
    "dalperf_relationship_threshold": (2, "different parents lazy-loading one relationship"),
    "dalperf_column_load_threshold": (5, "different objects reloading columns one at a time"),
    "dalperf_repeat_threshold": (5, "runs of one SELECT (Core, text(), ORM query)"),
    "dalperf_write_loop_threshold": (0, "runs of one INSERT/UPDATE/DELETE row by row (0: off)"),
    "dalperf_loop_threshold": (
        3,
        "iterations of one loop sending a SELECT per key, the same body each time (0: off)",
    ),
    "dalperf_small_repeat_threshold": (
        0,
        ("different keys of one table looked up by key, e.g. 2-4 session.get calls (0: off)"),
    ),
}
BUDGET_MARKERS = ("dalperf_budget", "query_budget")  # query_budget: the old name, deprecated
ALLOW_MARKER = "dalperf_allow"
INDEX_CHECK_MODES = ("off", "warn", "fail")
DEFAULT_INDEX_MIN_ROWS = 1_000  # tables of at most this many rows are never checked
MARKER_LIMITS = (
    "max_queries",
    "max_round_trips",
    "max_network_round_trips",
    "max_rows_fetched",
    "no_n_plus_one",
)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What the session was asked to do, validated."""

    mode: str = DEFAULT_MODE
    rtt_ms: float = DEFAULT_RTT_MS
    thresholds: dict[str, int]
    ignore: tuple[str, ...] = ()
    baseline: Path | None = None
    update_baseline: bool = False
    json_path: Path | None = None
    html_path: Path | None = None
    sarif_path: Path | None = None
    metadata: str | None = None
    alembic: Path | None = None
    record_dir: Path | None = None  # committed query records (dalperf.pytest_support.records)
    record_update: bool = False
    database_url: str | None = None  # dalperf_postgres on this server (its own databases)
    server: str | None = None  # "docker" or "docker:IMAGE": dalperf_postgres in a container
    index_check: str = "off"  # the missing-index check (dalperf.pytest_support.index_check)
    index_min_rows: int = DEFAULT_INDEX_MIN_ROWS
    repeat_scope: str = DEFAULT_REPEAT_SCOPE
    unused_eager_load: bool = False
    prove_fixes: bool = False  # rerun a test with its fix (dalperf.pytest_support.prove)
    app_dirs: tuple[str, ...] = ()  # the folders of dalperf_app_packages

    @property
    def reports_figures(self) -> bool:
        """Whether a suite report (JSON or HTML) shows each test's figures and slowest
        statements; without one they are computed only for a failure message."""
        return self.json_path is not None or self.html_path is not None


def add_options(parser: pytest.Parser) -> None:
    """The command-line options and ini keys (``[tool.pytest.ini_options]``)."""
    group = parser.getgroup("dalperf", "dalperf: query findings and budgets")
    group.addoption(
        "--dalperf-mode",
        choices=MODES,
        default=None,
        help="fail (default): a test with a finding fails; warn: it warns; "
        "off: no findings (markers and fixtures still check)",
    )
    group.addoption(
        "--dalperf-rtt-ms",
        default=None,
        metavar="MS",
        help=f"round-trip time the failure messages price the network round "
        f"trips at (default {DEFAULT_RTT_MS:g})",
    )
    group.addoption(
        "--dalperf-baseline",
        default=None,
        metavar="FILE",
        help="JSON file of accepted findings: only new findings fail",
    )
    group.addoption(
        "--dalperf-update-baseline",
        action="store_true",
        default=False,
        help="write the findings of the tests that ran into --dalperf-baseline "
        "(stale entries pruned)",
    )
    group.addoption(
        "--dalperf-json",
        default=None,
        metavar="FILE",
        help="write a JSON report of every test's queries and findings",
    )
    group.addoption(
        "--dalperf-html",
        default=None,
        metavar="FILE",
        help="write an HTML report (sortable table per test)",
    )
    group.addoption(
        "--dalperf-sarif",
        default=None,
        metavar="FILE",
        help="write the findings as SARIF 2.1.0 (code scanning)",
    )
    group.addoption(
        "--dalperf-repeat-scope",
        default=None,
        choices=REPEAT_SCOPES,
        help="unit (default): a finding needs its repeats in one unit of work "
        "(Session, connection checkout, HTTP request) or one loop of the "
        "app; test: anywhere in the test body",
    )
    group.addoption(
        "--dalperf-prove-fixes",
        action="store_true",
        default=False,
        help="run a test failing on a lazy-load or column-reload finding once more with the "
        "offered loader option added to its query, and report the queries saved",
    )
    group.addoption(
        "--dalperf-metadata",
        default=None,
        metavar="MODULE:ATTR",
        help="schema of dalperf_postgres: a MetaData, e.g. app.models:Base.metadata",
    )
    group.addoption(
        "--dalperf-alembic",
        default=None,
        metavar="INI",
        help="schema of dalperf_postgres: alembic upgrade head with this alembic.ini",
    )
    group.addoption(
        "--dalperf-record",
        default=None,
        metavar="DIR",
        help="compare each test's statements with its committed record in DIR "
        "(one TOML file per test file); a changed record fails the test",
    )
    group.addoption(
        "--dalperf-record-update",
        action="store_true",
        default=False,
        help="rewrite the records of --dalperf-record instead of failing",
    )
    group.addoption(
        "--dalperf-database-url",
        default=None,
        metavar="URL",
        help=f"dalperf_postgres on this server instead of the embedded one, in "
        f"databases of its own (dalperf_<random>, dropped afterwards); "
        f"default ${DATABASE_URL_ENV}",
    )
    group.addoption(
        "--dalperf-server",
        default=None,
        metavar="docker[:IMAGE]",
        help=f"dalperf_postgres in a PostgreSQL container (testcontainers; "
        f"default image {DEFAULT_IMAGE})",
    )
    parser.addini("dalperf_mode", f"fail | warn | off (default {DEFAULT_MODE})", default=None)
    parser.addini(
        "dalperf_rtt_ms", f"RTT in ms for the messages (default {DEFAULT_RTT_MS:g})", default=None
    )
    parser.addini(
        "dalperf_ignore",
        "findings never reported: one pattern a line, "
        "[kind:]label glob, e.g. Post.comments or repeated-statement:SELECT users",
        type="linelist",
        default=[],
    )
    parser.addini("dalperf_baseline", "default of --dalperf-baseline", default=None)
    parser.addini("dalperf_record", "default of --dalperf-record", default=None)
    parser.addini(
        "dalperf_repeat_scope",
        f"{' | '.join(REPEAT_SCOPES)}: where a finding's "
        f"repeats must happen (default {DEFAULT_REPEAT_SCOPE})",
        default=None,
    )
    parser.addini(
        "dalperf_unused_eager_load",
        "report selectinload/subqueryload/joinedload options the test never read (default false)",
        type="bool",
        default=False,
    )
    parser.addini(
        "dalperf_prove_fixes",
        "default of --dalperf-prove-fixes (default false)",
        type="bool",
        default=False,
    )
    parser.addini(
        "dalperf_app_packages",
        "import names of installed packages that are your "
        "code (call sites stop in them), one a line or separated by spaces",
        type="args",
        default=[],
    )
    for name, (default, what) in THRESHOLDS.items():
        parser.addini(name, f"{what} from which dalperf reports (default {default})", default=None)
    group.addoption(
        "--dalperf-index-check",
        default=None,
        metavar="off|warn|fail",
        help="plan each SELECT a test body sent on a large table and report a "
        "missing index, proved by building it in a rolled-back transaction "
        "(default off)",
    )
    parser.addini(
        "dalperf_index_check", "off (default) | warn | fail: the missing-index check", default=None
    )
    parser.addini(
        "dalperf_index_min_rows",
        f"tables above this many rows are checked for a "
        f"missing index (default {DEFAULT_INDEX_MIN_ROWS:,})",
        default=None,
    )


def read(config: pytest.Config) -> Settings:
    """The validated settings of this session; :class:`pytest.UsageError` on a bad value."""
    mode = config.getoption("dalperf_mode") or _ini(config, "dalperf_mode") or DEFAULT_MODE
    if mode not in MODES:
        raise pytest.UsageError(f"dalperf_mode: must be one of {', '.join(MODES)}, not {mode!r}")
    rtt_text = config.getoption("dalperf_rtt_ms") or _ini(config, "dalperf_rtt_ms")
    rtt_ms = _number(rtt_text, "--dalperf-rtt-ms") if rtt_text is not None else DEFAULT_RTT_MS
    thresholds = {}
    for name, (default, _) in THRESHOLDS.items():
        raw = _ini(config, name)
        thresholds[name] = _whole(raw, name) if raw is not None else default
    baseline_text = config.getoption("dalperf_baseline") or _ini(config, "dalperf_baseline")
    baseline = Path(baseline_text) if baseline_text else None
    update = bool(config.getoption("dalperf_update_baseline"))
    if update and baseline is None:
        raise pytest.UsageError("--dalperf-update-baseline: needs --dalperf-baseline FILE")
    if baseline is not None:
        if update:
            _writable(baseline, "--dalperf-baseline")
        elif not baseline.is_file():
            raise pytest.UsageError(
                f"--dalperf-baseline: {baseline} does not exist "
                "(write it with --dalperf-update-baseline)"
            )
    paths = {}
    for option in ("json", "html", "sarif"):
        text = config.getoption(f"dalperf_{option}")
        paths[option] = _writable(Path(text), f"--dalperf-{option}") if text else None
    if paths["html"] is not None:
        _require_html_report()
    metadata = config.getoption("dalperf_metadata")
    if metadata is not None and (":" not in metadata or not all(metadata.split(":", 1))):
        raise pytest.UsageError(
            f"--dalperf-metadata: expected MODULE:ATTRIBUTE, e.g. "
            f"app.models:Base.metadata, not {metadata!r}"
        )
    if metadata is not None:
        _importable(metadata)
    alembic = config.getoption("dalperf_alembic")
    if alembic is not None and not Path(alembic).is_file():
        raise pytest.UsageError(f"--dalperf-alembic: {alembic} does not exist")
    record_text = config.getoption("dalperf_record") or _ini(config, "dalperf_record")
    record_dir = Path(record_text) if record_text else None
    record_update = bool(config.getoption("dalperf_record_update"))
    if record_update and record_dir is None:
        raise pytest.UsageError("--dalperf-record-update: needs --dalperf-record DIR")
    if record_dir is not None and record_dir.exists() and not record_dir.is_dir():
        raise pytest.UsageError(f"--dalperf-record: {record_dir} is a file, not a folder")
    database_url = config.getoption("dalperf_database_url") or os.environ.get(DATABASE_URL_ENV)
    server = config.getoption("dalperf_server")
    if server is not None:
        if server.partition(":")[0] != DOCKER:
            raise pytest.UsageError(
                f"--dalperf-server: expected {DOCKER} or {DOCKER}:IMAGE "
                f"(e.g. {DOCKER}:{DEFAULT_IMAGE}), not {server!r}"
            )
        if config.getoption("dalperf_database_url"):
            raise pytest.UsageError(
                "--dalperf-server and --dalperf-database-url name two servers; give one"
            )
        database_url = None
    scope = (
        config.getoption("dalperf_repeat_scope")
        or _ini(config, "dalperf_repeat_scope")
        or DEFAULT_REPEAT_SCOPE
    )
    if scope not in REPEAT_SCOPES:
        raise pytest.UsageError(
            f"dalperf_repeat_scope: must be one of {', '.join(REPEAT_SCOPES)}, not {scope!r}"
        )
    app_dirs = tuple(
        d for name in config.getini("dalperf_app_packages") or () for d in _package_folders(name)
    )
    return Settings(
        mode=mode,
        rtt_ms=rtt_ms,
        thresholds=thresholds,
        ignore=tuple(p.strip() for p in _ini(config, "dalperf_ignore") or () if p.strip()),
        baseline=baseline,
        update_baseline=update,
        json_path=paths["json"],
        html_path=paths["html"],
        sarif_path=paths["sarif"],
        metadata=metadata,
        alembic=Path(alembic) if alembic else None,
        database_url=database_url or None,
        server=server,
        record_dir=record_dir,
        record_update=record_update,
        repeat_scope=scope,
        app_dirs=app_dirs,
        unused_eager_load=bool(config.getini("dalperf_unused_eager_load")),
        prove_fixes=bool(
            config.getoption("dalperf_prove_fixes") or config.getini("dalperf_prove_fixes")
        ),
        **_index_check(config),
    )


def _require_html_report() -> None:
    """``--dalperf-html`` renders with jinja2 (the ``report`` extra): a usage error naming
    it, at start-up, rather than an ImportError once the whole suite has run."""
    from dalperf.errors import MissingExtra, require

    try:
        require("report", "jinja2", feature="--dalperf-html")
    except MissingExtra as exc:
        raise pytest.UsageError(str(exc)) from exc


def _index_check(config: pytest.Config) -> dict[str, Any]:
    """The missing-index check's mode and table size, validated."""
    mode = config.getoption("dalperf_index_check") or _ini(config, "dalperf_index_check") or "off"
    if mode not in INDEX_CHECK_MODES:
        raise pytest.UsageError(
            f"--dalperf-index-check: must be one of {', '.join(INDEX_CHECK_MODES)}, not {mode!r}"
        )
    raw = _ini(config, "dalperf_index_min_rows")
    rows = _whole(raw, "dalperf_index_min_rows") if raw is not None else DEFAULT_INDEX_MIN_ROWS
    return {"index_check": mode, "index_min_rows": rows}


def _package_folders(name: str) -> list[str]:
    """The folders of package (or module) ``name``, found without importing it; a usage
    error naming ``dalperf_app_packages`` if it cannot be imported."""
    from importlib.util import find_spec

    try:
        spec = find_spec(name)
    except (ImportError, ValueError) as exc:
        raise pytest.UsageError(f"dalperf_app_packages: {name!r} does not import: {exc}") from None
    if spec is None:
        raise pytest.UsageError(
            f"dalperf_app_packages: {name!r} does not import: no module named {name!r}"
        )
    if spec.submodule_search_locations:
        return list(spec.submodule_search_locations)
    return [str(Path(spec.origin).parent)] if spec.origin else []


def check_marker(nodeid: str, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """A budget or allow marker's arguments, validated at collection (a usage error if bad)."""
    where = f"{nodeid}: @pytest.mark.{name}"
    if name == ALLOW_MARKER:
        if kwargs or not all(isinstance(a, str) for a in args):
            raise pytest.UsageError(
                f'{where}: takes finding labels (strings), e.g. {ALLOW_MARKER}("Post.comments")'
            )
        return
    if args:
        raise pytest.UsageError(
            f"{where}: takes keyword arguments only, e.g. {name}(max_queries=1)"
        )
    for key, value in kwargs.items():
        if key not in MARKER_LIMITS:
            known = ", ".join(MARKER_LIMITS)
            raise pytest.UsageError(
                f"{where}: unknown limit {key!r} (known: {known}; timing "
                "and complexity budgets belong to `dalperf run`/`dalperf "
                "check`, scaling to the dalperf_scaling fixture)"
            )
        if key == "no_n_plus_one":
            if not isinstance(value, bool):
                raise pytest.UsageError(
                    f"{where}: no_n_plus_one must be True or False, not {value!r}"
                )
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise pytest.UsageError(f"{where}: {key} must be a whole number >= 0, not {value!r}")


def _ini(config: pytest.Config, name: str) -> Any:
    value = config.getini(name)
    return value if value not in ("", None) else None


def _number(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise pytest.UsageError(f"{option}: not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise pytest.UsageError(f"{option}: must be a number >= 0, not {text}")
    return value


def _whole(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise pytest.UsageError(f"{name}: must be a whole number >= 0, not {text!r}") from None
    if value < 0:
        raise pytest.UsageError(f"{name}: must be a whole number >= 0, not {text}")
    return value


def _writable(path: Path, option: str) -> Path:
    """``path``, once a file could be written there: found out now, not after the suite ran
    green (a probe file beside it, removed at once; an existing file opened for appending,
    unchanged)."""
    if path.is_dir():
        raise pytest.UsageError(f"{option}: {path} is a directory, not a file")
    if not path.parent.is_dir():
        raise pytest.UsageError(f"{option}: the folder {path.parent} does not exist")
    try:
        if path.exists():
            path.open("ab").close()
        else:
            tempfile.TemporaryFile(dir=path.parent).close()
    except OSError as exc:
        raise pytest.UsageError(f"{option}: cannot write {path}: {exc.strerror or exc}") from None
    return path


def _importable(spec: str) -> None:
    """Import the module of ``--dalperf-metadata`` now, so that a module that raises is one
    usage error instead of an error in every test; one not found yet is left for later (the
    test modules' folders are not all on ``sys.path`` at this point)."""
    import importlib

    module = spec.partition(":")[0]
    try:
        importlib.import_module(module)
    except ImportError:
        pass
    except (Exception, SystemExit) as exc:
        raise pytest.UsageError(
            f"--dalperf-metadata {spec}: {module} raised while importing: {describe(exc)}"
        ) from None


def load_json(path: Path, option: str) -> Any:
    """``path`` parsed as JSON; a usage error naming ``option`` if it is not."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise pytest.UsageError(f"{option}: {path} is not valid JSON: {exc}") from None
