"""The user's project as declared: ``[tool.dalperf]`` (:mod:`~dalperf.project.config`), its
budgets (:mod:`~dalperf.project.budgets`) and the files ``dalperf init`` writes
(:mod:`~dalperf.project.scaffold`).

Reading declarations only: building a database from the project is
:mod:`dalperf.db.project`.
"""
