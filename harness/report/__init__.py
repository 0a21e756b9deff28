"""The audit report: HTML (self-contained, charts inline) and Markdown, from a results JSON alone.

``render(results, verdict=..., budgets=...)`` gives both forms, ``write`` puts them on disk::

    from harness.check import evaluate, load_budgets
    from harness.report import render, write

    budgets = load_budgets(pyproject, None)
    rendered = render(results, verdict=evaluate(results, budgets=budgets), budgets=budgets)
    write(rendered, html=Path("report.html"), markdown=Path("report.md"))

Modules: :mod:`~harness.report.tables` shapes the figures with pandas,
:mod:`~harness.report.charts` draws them with matplotlib, :mod:`~harness.report.sections`
assembles what each section says, :mod:`~harness.report.render` fills the templates of
``reports/templates/``.
"""

from harness.report.render import Rendered, render, write

__all__ = ["Rendered", "render", "write"]
