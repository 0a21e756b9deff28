"""dalperf's own typer application, command and group classes.

Typer's rich ``--help`` prints a type beside every option, so an on/off flag (``--help``,
``--explain/--no-explain``) reads ``<bool>``, as if it took a value.  The command and group
classes here hand the help screen options that show no type for a flag; every other option
is shown as typer shows it.  :class:`App` makes them the classes of every dalperf command,
so no class of typer's is changed for anyone else.  (Typer carries its own copy of click,
whose classes are private: contexts and parameters are typed ``Any`` here.)
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption


class FlagOption(TyperOption):
    """A typer option whose rich help shows no type when it is an on/off flag."""

    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag and self.metavar is None:
            return None
        return super().display_type_rich(ctx)


def _flag_options(params: list[Any]) -> list[Any]:
    """``params`` with typer's options turned into :class:`FlagOption` (the same objects)."""
    for param in params:
        if type(param) is TyperOption:
            param.__class__ = FlagOption
    return params


class Command(TyperCommand):
    """A dalperf command: its options, ``--help`` included, are :class:`FlagOption`."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _flag_options(super().get_params(ctx))


class Group(TyperGroup):
    """A dalperf command group: its options, ``--help`` included, are :class:`FlagOption`."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _flag_options(super().get_params(ctx))


class App(typer.Typer):
    """A typer application whose group is :class:`Group` and whose commands are
    :class:`Command` unless a command names its own class."""

    def __init__(self, **options: Any) -> None:
        super().__init__(cls=Group, **options)

    def command(
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **options: Any
    ) -> Any:
        return super().command(name, cls=cls or Command, **options)
