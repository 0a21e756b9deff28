"""dalperf's engine: provisioning, instrumentation, measurement; knows nothing of any one app.

The instrumentation layer's public names are exported here::

    from harness import Capture
    with Capture(engine) as cap:
        operation()
    cap.summary()
"""

from harness.capture import Capture, bind_context, captured, suspended
from harness.figures import FingerprintTotal, NPlusOne
from harness.fingerprint import fingerprint
from harness.records import HiddenKind, HiddenRoundTrip, Statement

__all__ = [
    "Capture",
    "FingerprintTotal",
    "HiddenKind",
    "HiddenRoundTrip",
    "NPlusOne",
    "Statement",
    "bind_context",
    "captured",
    "fingerprint",
    "suspended",
]
