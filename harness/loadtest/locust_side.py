"""The code that runs inside locust and the protocol an app and a locustfile share with dalperf.

Imported by a locustfile (inside the locust processes, after locust patched the standard
library with gevent) and by the app; light, it imports neither locust nor the drivers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# the protocol between the driver, the app and the locustfile
DATABASE_URL_ENV = "DALPERF_LOAD_DATABASE_URL"
POOL_SIZE_ENV = "DALPERF_LOAD_POOL_SIZE"
DRIVER_ENV = "DALPERF_LOAD_DRIVER"  # --driver: the app's engines (dalperf.db.drivers)
HEALTH_PATH = "/_dalperf/health"
QUERIES_HEADER = "X-Dalperf-Queries"
ROUND_TRIPS_HEADER = "X-Dalperf-Round-Trips"
RECORDS_OPTION = "--dalperf-records"
VARIANT_KEY = "dalperf_variant"
USER_KEY = "dalperf_user"
_RECORDS_REPORT_KEY = "dalperf_records"
_LOCAL_NODE = "local"
_ERROR_CHARS = 200


def request_context(variant: str, user: object) -> dict[str, Any]:
    """What a user's ``context()`` returns: the variant it drives, and who it is."""
    return {VARIANT_KEY: variant, USER_KEY: id(user)}


def record_requests(events: Any) -> None:
    """Keep every request's exact figures; call at the top of a locustfile with ``locust.events``.

    Adds the option ``--dalperf-records FILE``.  Each process keeps one row per request
    (start, float ms, variant, name, ok, queries and round trips from the app's headers,
    user, error); a worker hands its rows to the master with each report; the master (or
    the only process), given ``--dalperf-records``, writes them all to FILE when it quits.
    Without the option nothing is written.
    """
    rows: list[list[Any]] = []
    gathered: list[list[Any]] = []

    @events.init_command_line_parser.add_listener
    def _option(parser: Any, **_kw: Any) -> None:
        parser.add_argument(
            RECORDS_OPTION,
            default="",
            include_in_web_ui=False,
            help="Write every request's exact figures to this JSON file (dalperf load sets it).",
        )

    @events.request.add_listener
    def _request(
        name: str,
        response_time: float,
        context: Mapping[str, Any],
        response: Any = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        **_kw: Any,
    ) -> None:
        headers = getattr(response, "headers", None) or {}
        rows.append(
            [
                start_time if start_time is not None else time.time() - response_time / 1000,
                float(response_time),
                context.get(VARIANT_KEY),
                name,
                exception is None,
                _header_int(headers, QUERIES_HEADER),
                _header_int(headers, ROUND_TRIPS_HEADER),
                context.get(USER_KEY),
                None
                if exception is None
                else f"{type(exception).__name__}: {exception}"[:_ERROR_CHARS],
            ]
        )

    @events.report_to_master.add_listener
    def _ship(data: dict[str, Any], **_kw: Any) -> None:
        data[_RECORDS_REPORT_KEY], rows[:] = list(rows), []

    @events.worker_report.add_listener
    def _gather(client_id: str, data: Mapping[str, Any], **_kw: Any) -> None:
        gathered.extend([*row, client_id] for row in data.get(_RECORDS_REPORT_KEY, ()))

    @events.quitting.add_listener
    def _write(environment: Any, **_kw: Any) -> None:
        options = getattr(environment, "parsed_options", None)
        path = getattr(options, RECORDS_OPTION.lstrip("-").replace("-", "_"), "")
        # the master hands its custom options to the workers: a worker has the path too,
        # but its rows went to the master with its reports
        if not path or getattr(options, "worker", False):
            return
        records = [*gathered, *([*row, _LOCAL_NODE] for row in rows)]
        Path(path).write_text(json.dumps({"records": records}))


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
