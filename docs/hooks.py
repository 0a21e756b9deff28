"""MkDocs hooks: the pages that are generated from the code at build time, so they cannot drift.

Two markers are replaced while the site is built (``on_page_markdown``):

- ``<!-- generated: commands -->`` becomes the reference of every ``dalperf`` command,
  walked from the typer application (``typer.main.get_command``): usage, help text and
  every option with its help, as ``dalperf CMD --help`` prints them.
- ``<!-- generated: schema -->`` becomes one table per object of the results JSON Schema
  (``harness/results/schema.json``, installed as ``dalperf/results/schema.json``): each field, its type,
  whether it is required, and its description.

The functions are plain (no MkDocs object needed), so ``tests/test_docs.py`` calls them too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority

COMMANDS_MARKER = "<!-- generated: commands -->"
SCHEMA_MARKER = "<!-- generated: schema -->"

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "harness" / "results" / "schema.json"


def _cell(text: str) -> str:
    """``text`` made safe for one cell of a Markdown table: no line breaks, no pipes, no HTML."""
    text = " ".join(text.split())
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    """``text`` as inline code inside a table cell (a pipe would still end the cell)."""
    return "`" + text.replace("|", "\\|") + "`"


def _paragraphs(text: str) -> str:
    """A command's help text as Markdown paragraphs (click's ``\\b`` markers dropped)."""
    blocks = [block.replace("\b", "").strip() for block in text.split("\n\n")]
    lines = []
    for block in blocks:
        if block:
            lines.append(" ".join(block.split()).replace("<", "&lt;").replace(">", "&gt;"))
    return "\n\n".join(lines)


def commands_markdown() -> str:
    """The reference of every ``dalperf`` command, in the order the application registers
    them, subcommands under their group."""
    import typer.main
    from typer import Context

    from dalperf.cli.app import app

    root = typer.main.get_command(app)
    root_ctx = Context(root, info_name="dalperf")
    out: list[str] = []
    _command_markdown(root, root_ctx, ["dalperf"], out)
    return "\n".join(out) + "\n\n" + settings_markdown()


def settings_markdown() -> str:
    """The settings a user can give three ways (``dalperf.project.settings.SETTINGS``): flag,
    environment variable, ``[tool.dalperf]`` key and default, first place wins."""
    from dalperf.project.settings import SETTINGS

    out = [
        "## Settings: flag, variable, `[tool.dalperf]` key\n",
        "Each of these is taken from the first place that sets it: the flag, the environment "
        "variable, the `[tool.dalperf]` key, the default. An invalid value is refused with "
        "the same message wherever it came from, naming that place.\n",
        "| setting | flag | variable | `[tool.dalperf]` key | default | meaning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for setting in SETTINGS.values():
        key = _code(setting.key) if setting.in_file else "–"
        out.append(
            f"| {setting.name} | {_code(setting.flag)} | {_code(setting.env)} | "
            f"{key} | {_cell(setting.default_text or 'none')} | {_cell(setting.help)} |"
        )
    return "\n".join(out) + "\n"


def _command_markdown(command: Any, ctx: Any, path: list[str], out: list[str]) -> None:
    """Append the section of ``command`` (and of its subcommands) to ``out``."""
    from typer import Context

    level = "#" * min(len(path) + 2, 6)
    out.append(f"{level} `{' '.join(path)}`\n")
    if command.help:
        out.append(_paragraphs(command.help) + "\n")
    out.append("```text\n" + command.get_usage(ctx).strip() + "\n```\n")
    rows = []
    for param in command.params:
        record = param.get_help_record(ctx)
        if record is None:  # an argument, or a hidden option
            if param.param_type_name == "argument":
                rows.append(
                    (
                        param.human_readable_name,
                        "argument" + (", required" if param.required else ""),
                    )
                )
            continue
        rows.append(record)
    if rows:
        out.append("| option | meaning |\n| --- | --- |")
        for opts, help_text in rows:
            out.append(f"| {_code(opts)} | {_cell(help_text)} |")
        out.append("")
    subcommands = getattr(command, "commands", {})
    for name, sub in subcommands.items():
        if sub.hidden:
            continue
        _command_markdown(sub, Context(sub, info_name=name, parent=ctx), [*path, name], out)


def _type_of(node: dict[str, Any]) -> str:
    """A short, readable type for one schema node."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name})"
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    for key in ("anyOf", "oneOf"):
        if key in node:
            return " or ".join(_type_of(option) for option in node[key])
    kind = node.get("type")
    if isinstance(kind, list):
        text = " or ".join(kind)
    elif kind is None:
        text = "any"
    else:
        text = kind
    if kind == "array" or (isinstance(kind, list) and "array" in kind):
        items = node.get("items")
        if isinstance(items, dict) and items:
            text += " of " + _type_of(items)
    return text


def schema_markdown(schema_path: Path = SCHEMA_PATH) -> str:
    """One section per object declared in the results JSON Schema: its fields, their types,
    which are required, and whether unknown keys are refused."""
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    out: list[str] = []
    for name, node in schema["$defs"].items():
        out.append(f"### {name}\n")
        if node.get("description"):
            out.append(_paragraphs(node["description"]) + "\n")
        properties = node.get("properties")
        if not properties:
            out.append(f"Type: {_type_of(node)}.\n")
            continue
        closed = node.get("additionalProperties") is False
        out.append(
            "Closed: a key not listed here is refused.\n"
            if closed
            else "Open: keys not listed here are kept; the types of the listed ones are checked.\n"
        )
        required = set(node.get("required", []))
        described = any(
            isinstance(spec, dict) and spec.get("description") for spec in properties.values()
        )
        header = "| field | type | required |" + (" description |" if described else "")
        out.append(header + "\n|" + " --- |" * (4 if described else 3))
        for field, spec in properties.items():
            spec = spec if isinstance(spec, dict) else {}
            row = f"| `{field}` | {_type_of(spec)} | {'yes' if field in required else ''} |"
            if described:
                row += f" {_cell(spec.get('description', ''))} |"
            out.append(row)
        out.append("")
    return "\n".join(out) + "\n"


@event_priority(100)  # before mkdocstrings sets up its handler
def on_config(config: Any) -> Any:
    """MkDocs hook: ``mkdocs`` run as a console script has its bin folder first on sys.path,
    where griffe (the API reference's loader) would take the ``dalperf`` console script for
    the package. Without that folder griffe imports ``dalperf`` once to learn where it lives
    (``harness/``) and reads the source from there."""
    scripts = Path(sys.argv[0]).resolve().parent
    sys.path[:] = [entry for entry in sys.path if not (entry and Path(entry).resolve() == scripts)]
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs hook: put the generated reference where a page has its marker."""
    if COMMANDS_MARKER in markdown:
        markdown = markdown.replace(COMMANDS_MARKER, commands_markdown())
    if SCHEMA_MARKER in markdown:
        markdown = markdown.replace(SCHEMA_MARKER, schema_markdown())
    return markdown
