"""The render app's data-access layer: every operation of DESIGN.md's table, registered on import.

One module per DAL area; importing this package (``dalperf run --scenarios scenarios``)
registers all of them with :data:`dalperf.measure.registry.REGISTRY`.  Each operation has a
``naive`` variant (the "before" code), a ``summary`` variant where the summary's "after"
differs from ours, and an ``optimized`` one.
"""

from dalperf.scenarios import billing, gallery, profile_stats, projects, render_chains, renders

__all__ = ["billing", "gallery", "profile_stats", "projects", "render_chains", "renders"]
