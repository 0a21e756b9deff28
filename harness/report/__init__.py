"""The audit report: HTML (self-contained, charts inline) and Markdown, from a results JSON alone.

``render(results, verdict=..., budgets=...)`` gives both forms, ``write`` puts them on disk::

    from dalperf.gate.check import evaluate, read_budgets
    from dalperf.report import render
    from dalperf.report import write

    budgets = read_budgets(pyproject, None)
    rendered = render(results, verdict=evaluate(results, budgets=budgets), budgets=budgets)
    write(rendered, html=Path("report.html"), markdown=Path("report.md"))

Modules: :mod:`~dalperf.report.tables` shapes the figures with pandas,
:mod:`~dalperf.report.charts` draws them with matplotlib, :mod:`~dalperf.report.sections`
assembles what each section says, :mod:`~dalperf.report.render` fills the templates of
``reports/templates/``.
"""

from dalperf.report.render import Rendered, render, write

__all__ = ["Rendered", "render", "write"]
