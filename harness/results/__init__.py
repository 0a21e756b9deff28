"""The results contract: the records dalperf writes and reads back, and their JSON schema.

:mod:`~dalperf.results.model` (``dalperf run``/``audit``), :mod:`~dalperf.results.load`
(``dalperf load``), :mod:`~dalperf.results.shards` (merging a sharded run),
:mod:`~dalperf.results.schema` with ``schema.json`` (the one declaration of their shape),
:mod:`~dalperf.results.files` (atomic writes, one-line errors on bad files) and
:mod:`~dalperf.results.stats` (the summary statistics the records hold).  Everything that
measures writes these; everything that compares, gates or renders reads only these.
"""
