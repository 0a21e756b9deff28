"""Defaults that ``--help`` shows, kept where importing them costs nothing.

The modules that use them (:mod:`dalperf.db.migrations`, :mod:`dalperf.loadtest.driver`)
import pglast, psycopg and the proxy at load; the command line reads the defaults from here
so that ``dalperf --help`` does not.
"""

from __future__ import annotations

DEFAULT_JOBS = 2  # connections that build an index-only migration's indexes at once

# dalperf load
DEFAULT_USERS = 10
DEFAULT_SPAWN_RATE = 10.0
DEFAULT_RUN_TIME_S = 30
DEFAULT_VARIANTS = ("naive", "optimized")
DEFAULT_APP_URL_ENV = "DATABASE_URL"  # where a user's app under `dalperf load --app` reads its URL
