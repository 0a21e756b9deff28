"""The public capture API: every statement an engine sends, with its round trips.

::

    from dalperf.capture import Capture
    with Capture(engine) as cap:
        operation()
    cap.queries, cap.round_trips, cap.network_round_trips, cap.n_plus_one()

Modules: :mod:`~dalperf.capture.instrument` puts the hooks on, one hub per engine
(:mod:`~dalperf.capture.engine_hub`) or one for the process
(:mod:`~dalperf.capture.process_hub`), both recording through
:mod:`~dalperf.capture.recorder` into the captures :mod:`~dalperf.capture.sinks` names,
:mod:`~dalperf.capture.wire` models the driver's hidden round trips,
:mod:`~dalperf.capture.depth` computes the critical path, :mod:`~dalperf.capture.callsite`
finds the application frame, :mod:`~dalperf.capture.fingerprint` normalises statements,
:mod:`~dalperf.capture.records` holds what one statement was, and
:mod:`~dalperf.capture.orm` tags what the ORM was loading,
:mod:`~dalperf.capture.units` says which unit of work (Session, checkout, HTTP request) each
statement ran in, :mod:`~dalperf.capture.batches` recognises pages and ``IN`` chunks,
:mod:`~dalperf.capture.reads` notes which eager loads the code read (opt-in), and
:mod:`~dalperf.capture.findings` turns statements into totals, N+1 groups and findings;
:mod:`~dalperf.capture.session` ties them together as :class:`Capture`.
"""

from dalperf.capture.findings import Finding, FindingKind, FingerprintTotal, NPlusOne, Thresholds
from dalperf.capture.fingerprint import fingerprint
from dalperf.capture.records import HiddenKind, HiddenRoundTrip, Statement
from dalperf.capture.session import Capture, bind_context, captured, suspended

__all__ = [
    "Capture",
    "Finding",
    "FindingKind",
    "FingerprintTotal",
    "HiddenKind",
    "HiddenRoundTrip",
    "NPlusOne",
    "Statement",
    "Thresholds",
    "bind_context",
    "captured",
    "fingerprint",
    "suspended",
]
