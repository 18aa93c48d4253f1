"""The package's layers, as declared in pyproject.toml, and the old module paths."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import mtltune
from mtltune.aliases import OLD_PATHS

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    # lint-imports reads [tool.importlinter] (layers, TensorFlow-free modules, nothing imports
    # the CLI) and exits 1 naming the import chain of any broken contract.
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
            "--config",
            str(ROOT / "pyproject.toml"),
            "--no-cache",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout and "KEPT" in done.stdout


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_old_module_paths_are_the_new_modules(old):
    module = importlib.import_module(old)
    assert module is importlib.import_module(OLD_PATHS[old])
    assert module.__spec__.name == OLD_PATHS[old]


def test_documented_public_paths():
    from mtltune.adam import FlatAdam, FusedAdam
    from mtltune.earlystop import BestEpochStopping
    from mtltune.heads import balanced_class_weights
    from mtltune.runopen import open_run

    from mtltune.model.adam import FusedAdam as NewFusedAdam
    from mtltune.report import write_report

    assert FusedAdam is NewFusedAdam and FlatAdam and BestEpochStopping and open_run
    assert balanced_class_weights and write_report
    for name in mtltune.__all__:
        assert getattr(mtltune, name) is not None


def test_every_package_says_what_it_holds_and_may_import():
    for package in ("study", "data", "model", "tuning", "run", "distributed", "report"):
        doc = importlib.import_module(f"mtltune.{package}").__doc__ or ""
        assert len(doc.split()) > 25, package
        assert "import" in doc, package
