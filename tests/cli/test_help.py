"""``--help`` names flags and arguments plainly, and the README's synopsis lists every option."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mtltune.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def cli_parameters(command: str) -> tuple[set[str], list[str]]:
    """The visible ``--options`` and the argument names of a command, as the CLI defines them."""
    params = typer.main.get_command(app).commands[command].params  # type: ignore[attr-defined]
    options = {
        opt
        for p in params
        if p.param_type_name == "option" and not p.hidden
        for opt in p.opts
        if opt.startswith("--")
    }
    arguments = [p.metavar or p.name.upper() for p in params if p.param_type_name == "argument"]
    return options, arguments


def readme_synopsis() -> dict[str, str]:
    """The README's synopsis, one entry per command (continuation lines joined)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## The command line", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    synopsis: dict[str, str] = {}
    command = ""
    for line in block.splitlines():
        line = line.split("#", 1)[0]
        if line.startswith("mtltune "):
            command = line.split()[1]
            synopsis[command] = line
        elif line.strip():
            synopsis[command] += " " + line.strip()
    return synopsis


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_shows_no_bool_type_and_plain_argument_names(command: str | None) -> None:
    args = ["--help"] if command is None else [command, "--help"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    if command is not None:
        _, arguments = cli_parameters(command)
        assert usage.split("[OPTIONS]", 1)[1].split() == arguments
        assert all(name == name.upper() for name in arguments), arguments


def test_readme_synopsis_lists_every_option_and_argument_of_every_command() -> None:
    synopsis = readme_synopsis()
    assert sorted(synopsis) == COMMANDS
    for command, line in synopsis.items():
        options, arguments = cli_parameters(command)
        assert set(re.findall(r"--[a-z][\w-]*", line)) == options, command
        words = line.split()[2:]
        assert words[: len(arguments)] == arguments, (command, line)


def test_docs_distributed_md_tables_every_worker_option() -> None:
    text = (ROOT / "docs" / "distributed.md").read_text()
    table = text.split("Worker options (`mtltune worker RUN_DIR`):", 1)[1].split("\n\n", 2)[1]
    documented = set(re.findall(r"^\| `(--[\w-]+)", table, flags=re.MULTILINE))
    options, _ = cli_parameters("worker")
    assert documented == options - {"--verbose"}  # --verbose: docs/report.md, for every command
