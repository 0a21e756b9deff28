"""History: every main-branch result kept in a database, so trends and regressions have a commit.

- :mod:`dalperf.history.model`: the records (a commit, a series key, a point);
- :mod:`dalperf.history.ingest`: results files (run/audit, load, plugin) read as points,
  with :mod:`dalperf.history.interval` for the confidence interval of a p95;
- :mod:`dalperf.history.store`: the store (a SQLite file or PostgreSQL, through SQLAlchemy
  Core), its tables (:mod:`dalperf.history.tables`) and its own migrations
  (:mod:`dalperf.history.migrations`);
- :mod:`dalperf.history.commits`: the commit of a result, from the options and git;
- :mod:`dalperf.history.gate`: a head result against the window of main-branch results;
- :mod:`dalperf.history.backfill`: past commits measured in temporary worktrees;
- :mod:`dalperf.history.changes`, :mod:`dalperf.history.trends` and
  :mod:`dalperf.history.render`: the trends report.
"""
