"""What dalperf owns on this machine and must not leave behind: child processes that die
with it (:mod:`~dalperf.host.processes`) and temporary folders marked with their owner
(:mod:`~dalperf.host.scratch`)."""
