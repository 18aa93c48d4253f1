"""Exit codes: every error class of mtltune, raised under every command, exits with its code."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from mtltune.cli import app
from mtltune.errors import (
    DamagedRunError,
    DataError,
    InputError,
    MtlTuneError,
    NotARunError,
    RunFolderError,
    SearchError,
    StudyError,
)
from mtltune.run.atomic import RunPathError

runner = CliRunner()
PACKAGE = Path(__file__).resolve().parents[2] / "mtltune"

ERRORS = [
    MtlTuneError,
    InputError,
    StudyError,
    DataError,
    NotARunError,
    RunFolderError,
    SearchError,
    DamagedRunError,
    RunPathError,
]

#: Each command, the library call it makes (module, name; a module that imports TensorFlow is
#: replaced whole, so the test stays fast) and its arguments (``STUDY``: a valid study file).
COMMANDS: dict[str, tuple[str, str, list[str]]] = {
    "validate": ("mtltune.data", "prepare_dataset", ["validate", "STUDY"]),
    "show": ("mtltune.cli.app", "load_study", ["show", "STUDY"]),
    "search": ("mtltune.launch", "open_run", ["search", "STUDY", "--out", "OUT"]),
    "worker": ("mtltune.distributed.worker", "run_worker", ["worker", "OUT"]),
    "report": ("mtltune.report.rerender", "rerender_report", ["report", "OUT"]),
    "trials": ("mtltune.report.readback", "load_trials", ["trials", "OUT"]),
    "predict": ("mtltune.predict", "predict_file", ["predict", "OUT", "STUDY"]),
}
#: Modules that import TensorFlow when imported: stood in for by a module of one function.
HEAVY = {"mtltune.distributed.worker", "mtltune.predict"}


def _error_classes_in_the_package() -> set[str]:
    """Names of the classes in mtltune that derive from one of ``ERRORS`` (by their bases)."""
    ours = {cls.__name__ for cls in ERRORS}
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
                if bases & ours:
                    found.add(node.name)
    return found


def test_every_error_class_of_mtltune_is_tested_and_carries_its_code() -> None:
    assert _error_classes_in_the_package() | {"MtlTuneError"} == {c.__name__ for c in ERRORS}
    for cls in ERRORS:
        assert cls.exit_code == (2 if issubclass(cls, InputError) else 1), cls
    assert issubclass(NotARunError, InputError)


def _raiser(cls: type[MtlTuneError]) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        raise cls("the library says no")

    return call


@pytest.mark.parametrize("error", ERRORS, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_exits_with_the_code_of_the_error_without_a_traceback(
    command: str, error: type[MtlTuneError], write_study, tmp_path, monkeypatch
) -> None:
    module, name, args = COMMANDS[command]
    if module in HEAVY:
        stand_in = ModuleType(module)
        setattr(stand_in, name, _raiser(error))
        monkeypatch.setitem(sys.modules, module, stand_in)
    else:
        # By the module object: ``mtltune.cli.app`` as a dotted path is the Typer app.
        monkeypatch.setattr(importlib.import_module(module), name, _raiser(error))
    if command == "search":  # the data are read before the run opens
        monkeypatch.setattr("mtltune.data.prepare_dataset", lambda study: None)
    study = str(write_study())
    out = str(tmp_path / "run")
    args = [study if a == "STUDY" else out if a == "OUT" else a for a in args]
    result = runner.invoke(app, args)
    assert isinstance(result.exception, SystemExit), result.exception  # not a traceback
    assert result.exit_code == error.exit_code, result.output
    assert "error:" in result.output and "the library says no" in result.output
    assert "Traceback" not in result.output
