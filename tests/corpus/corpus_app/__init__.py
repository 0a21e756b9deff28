"""The small application every corpus scenario runs against: models, engines, seed data.

Nothing here runs a query inside a test body on its own (no helper loops, no properties
that load): the statement that makes a scenario's finding is always sent from the
scenario's own module, so its call site must be reported there.
"""
