"""The pytest plugin's machinery, imported on first use so that the plugin module stays light.

:mod:`~dalperf.pytest_support.settings` (options and ini keys, standard library only),
:mod:`~dalperf.pytest_support.recorder` (one test body: capture, findings, verdict, messages),
:mod:`~dalperf.pytest_support.suite` (the session: JSON and HTML reports),
:mod:`~dalperf.pytest_support.baseline` (accepted findings), :mod:`~dalperf.pytest_support.sarif`,
:mod:`~dalperf.pytest_support.scaling` (``dalperf_scaling``) and
:mod:`~dalperf.pytest_support.postgres` (``dalperf_postgres``).
"""
