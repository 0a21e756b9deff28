"""History: every main-branch result kept in a database, so trends and regressions have a commit.

:mod:`dalperf.history.model` holds the records, :mod:`dalperf.history.store` the database
(SQLite file or PostgreSQL, through SQLAlchemy Core), :mod:`dalperf.history.ingest` turns
results files into points, :mod:`dalperf.history.gate` checks a head result against the
window of main-branch results, :mod:`dalperf.history.backfill` measures past commits.
"""
