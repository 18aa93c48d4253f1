"""The command and group classes: how ``--help`` names things, and where commands fail.

Typer shows a flag that has no metavar as ``--overwrite <bool>`` (``--help`` included) and a
required argument as ``{RUN_DIR}`` in the usage line. The command and group classes here give
every flag an empty metavar and write the usage as ``mtltune predict [OPTIONS] RUN_DIR DATA``.
The group runs every command inside ``mtltune.cli.failing.exit_codes``.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from mtltune.cli.failing import exit_codes


def _bare_flags(params: list[Any]) -> list[Any]:
    """Flags without a metavar (typer would show ``<bool>``), arguments named in capitals."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
        elif isinstance(param, TyperArgument) and param.metavar is None and param.name:
            param.metavar = param.name.upper()
    return params


def _plain(pieces: list[str]) -> list[str]:
    """``{RUN_DIR}`` (typer's mark of a required argument) as ``RUN_DIR``."""
    return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


class Command(TyperCommand):
    """A command whose help shows flags and arguments by name only."""

    def get_params(self, ctx: Any) -> list[Any]:
        """The parameters (``--help`` last), every flag without a metavar."""
        return _bare_flags(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """The usage line's arguments as plain names."""
        return _plain(super().collect_usage_pieces(ctx))


class Group(TyperGroup):
    """The ``mtltune`` group: its ``--help`` without a ``<bool>``; its commands' exit codes."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command: an mtltune error it raises exits with the error's ``exit_code``."""
        with exit_codes():
            return super().invoke(ctx)

    def get_params(self, ctx: Any) -> list[Any]:
        """The parameters (``--help``), every flag without a metavar."""
        return _bare_flags(super().get_params(ctx))
