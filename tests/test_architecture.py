"""The package's layers (pyproject.toml), old paths and names, module sizes, private APIs."""

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import mtltune
from mtltune.aliases import OLD_PATHS, REMOVED_IN

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


def _forget(old: str) -> None:
    """Drop an old path from ``sys.modules`` so its next import goes through the finder again."""
    sys.modules.pop(old, None)
    parent, _, child = old.rpartition(".")
    if parent in sys.modules and getattr(sys.modules[parent], child, None) is not None:
        # ``import a.b`` sets ``b`` on ``a``; the alias's attribute would skip the finder.
        delattr(sys.modules[parent], child)


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_old_module_paths_are_the_new_modules_and_warn(old):
    _forget(old)
    warning = rf"module {old} is deprecated and will be removed in {REMOVED_IN}: use "
    with pytest.warns(DeprecationWarning, match=warning + OLD_PATHS[old].replace(".", r"\.")):
        module = importlib.import_module(old)
    assert module is importlib.import_module(OLD_PATHS[old])
    assert module.__spec__.name == OLD_PATHS[old]


def test_the_new_paths_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for new in sorted(set(OLD_PATHS.values())):
            importlib.import_module(new)
        from mtltune.distributed.chief import DistributedOptions

    assert DistributedOptions


def test_documented_public_paths():
    for old in ("mtltune.adam", "mtltune.earlystop", "mtltune.heads", "mtltune.runopen"):
        _forget(old)
    with pytest.warns(DeprecationWarning) as caught:
        from mtltune.adam import FlatAdam, FusedAdam
        from mtltune.earlystop import BestEpochStopping
        from mtltune.heads import balanced_class_weights
        from mtltune.runopen import open_run
    assert len(caught) == 4, [str(w.message) for w in caught]
    assert all(w.filename == __file__ for w in caught), "the warning blames the importer"

    from mtltune.model.adam import FusedAdam as NewFusedAdam
    from mtltune.report import write_report

    assert FusedAdam is NewFusedAdam and FlatAdam and BestEpochStopping and open_run
    assert balanced_class_weights and write_report
    # Moved or renamed, still importable from where they were.
    from mtltune import ObjectiveLogger
    from mtltune.model import callbacks
    from mtltune.tuning.hypermodel import DivergenceGuard

    assert BestEpochStopping is callbacks.BestEpochStopping
    assert ObjectiveLogger is callbacks.ObjectiveLogger is mtltune.ObjectiveLogger
    assert DivergenceGuard is callbacks.DivergenceGuard
    for name in mtltune.__all__:
        assert getattr(mtltune, name) is not None


def test_old_names_warn_with_the_new_name_and_the_removal():
    from mtltune.distributed import chief

    warning = (
        rf"mtltune\.distributed\.chief\.Distributed is deprecated and will be removed in "
        rf"{REMOVED_IN}: use mtltune\.distributed\.chief\.DistributedOptions"
    )
    with pytest.warns(DeprecationWarning, match=warning) as caught:
        from mtltune.distributed.chief import Distributed
    assert caught[0].filename == __file__
    assert Distributed is chief.DistributedOptions
    with pytest.raises(AttributeError, match="has no attribute 'Distributor'"):
        chief.Distributor  # noqa: B018 - the access is the test


def _old_uses(path: Path) -> list[str]:
    """Imports of an old module path or an old name in one module."""
    uses = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            uses += [
                f"line {node.lineno}: import {a.name}" for a in node.names if a.name in OLD_PATHS
            ]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module in OLD_PATHS:
                uses.append(f"line {node.lineno}: from {node.module}")
            uses += [
                f"line {node.lineno}: {node.module}.{a.name}"
                for a in node.names
                if f"{node.module}.{a.name}" in OLD_PATHS or (node.module, a.name) in OLD_NAMES
            ]
    return uses


#: Old public names kept by a module ``__getattr__`` (``mtltune.aliases.deprecated_names``).
OLD_NAMES = {("mtltune.distributed.chief", "Distributed")}


def test_mtltune_itself_uses_only_the_new_paths_and_names():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if uses := _old_uses(path):
            offenders[path.relative_to(ROOT).as_posix()] = uses
    assert not offenders, f"old module paths or names inside mtltune: {offenders}"
    # The check sees an old import (so it would see it in the package).
    assert _old_uses(Path(__file__)), "this test file imports old paths on purpose"


def test_every_package_says_what_it_holds_and_may_import():
    for package in ("study", "data", "model", "tuning", "run", "distributed", "report"):
        doc = importlib.import_module(f"mtltune.{package}").__doc__ or ""
        assert len(doc.split()) > 25, package
        assert "import" in doc, package


PACKAGE = ROOT / "mtltune"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

#: Modules and functions allowed over the limits, each with the reason.
SIZE_EXCEPTIONS = {
    "mtltune/cli/app.py:search": "a typer command: 50 of its lines declare its options",
    "mtltune/cli/app.py:worker": "a typer command: most of its lines declare its options",
}


def _function_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """A function's lines from ``def`` to its end, its docstring left out."""
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(getattr(first.value, "value", None), str):
        lines -= first.end_lineno - first.lineno + 1
    return lines


def _oversized() -> dict[str, int]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        source = path.read_text()
        if len(source.splitlines()) > MAX_MODULE_LINES:
            found[name] = len(source.splitlines())
        for node in ast.walk(ast.parse(source)):
            functions = (ast.FunctionDef, ast.AsyncFunctionDef)
            if isinstance(node, functions) and _function_lines(node) > MAX_FUNCTION_LINES:
                found[f"{name}:{node.name}"] = _function_lines(node)
    return found


def test_no_module_over_400_lines_and_no_function_over_60_but_the_listed():
    found = _oversized()
    unlisted = {k: v for k, v in found.items() if k not in SIZE_EXCEPTIONS}
    assert not unlisted, (
        f"over {MAX_MODULE_LINES} lines (module) or {MAX_FUNCTION_LINES} "
        f"(function, docstring left out): {unlisted}; split it, or list it with the reason"
    )
    stale = set(SIZE_EXCEPTIONS) - set(found)
    assert not stale, f"listed as too big but no longer is: {stale}; drop it from the list"


#: Private module trees, allowed only in mtltune.compat.
PRIVATE_MODULES = ("keras.src", "keras_tuner.src", "tensorflow.python")
#: Private attributes of Keras, Keras Tuner and TensorFlow objects mtltune relies on.
PRIVATE_NAMES = {
    "_backend_update_step",
    "_momentums",
    "_velocities",
    "_get_variable_index",
    "_trainable_variables",
    "_overwrite_variable_with_gradient",
    "_learning_rate",
    "_loss_tracker",
    "_save_model",
    "TFE_ContextClearCaches",
    "pywrap_tfe",
    "LOCKS",
    "ongoing_trials",
}


def _private_uses(path: Path) -> list[str]:
    uses = []
    for node in ast.walk(ast.parse(path.read_text())):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        uses += [
            f"line {node.lineno}: import {m}"
            for m in modules
            if any(m == p or m.startswith(p + ".") for p in PRIVATE_MODULES)
        ]
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE_NAMES:
            uses.append(f"line {node.lineno}: .{node.attr}")
    return uses


def test_private_keras_tuner_and_tensorflow_names_only_in_compat():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(PACKAGE / "compat"):
            continue
        if uses := _private_uses(path):
            offenders[path.relative_to(ROOT).as_posix()] = uses
    assert not offenders, f"private names outside mtltune.compat: {offenders}"
    # The check sees what compat does (so it would see it anywhere else).
    compat = {p.name: _private_uses(p) for p in (PACKAGE / "compat").glob("*.py")}
    assert compat["tf_private.py"] and compat["keras_private.py"] and compat["tuner_private.py"]


def test_each_private_use_in_compat_names_its_version_and_its_test():
    for path in sorted((PACKAGE / "compat").glob("*_private.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                doc = ast.get_docstring(node) or ""
                assert "Checked against" in doc and "Caught by" in doc, f"{path.name}:{node.name}"


#: Methods that write, create or remove a file or folder (``pathlib.Path``'s and the like).
WRITING_METHODS = {
    "write_text",
    "write_bytes",
    "touch",
    "mkdir",
    "unlink",
    "rmdir",
    "symlink_to",
    "hardlink_to",
    "chmod",
}
#: Functions of a module that write, create, move or remove files.
WRITING_FUNCTIONS = {
    "os": {
        "replace",
        "rename",
        "renames",
        "remove",
        "unlink",
        "makedirs",
        "mkdir",
        "rmdir",
        "open",
    },
    "shutil": {"copy", "copy2", "copyfile", "copytree", "move", "rmtree"},
    "json": {"dump"},
    "pickle": {"dump"},
    "np": {"save", "savez", "savez_compressed", "savetxt"},
    "numpy": {"save", "savez", "savez_compressed", "savetxt"},
    "tempfile": {"mkstemp", "mkdtemp", "NamedTemporaryFile", "TemporaryDirectory"},
}
#: Methods that write to a path when given one (a literal, ``folder / "x"``, ``Path(...)``).
TO_PATH_METHODS = {
    "to_csv",
    "to_parquet",
    "to_json",
    "to_pickle",
    "savefig",
    "save",
    "save_weights",
}
#: Their keyword arguments that name a path.
PATH_ARGUMENTS = {"path", "path_or_buf", "fname", "filepath"}


def _writes_mode(node: ast.Call, position: int) -> bool:
    """Whether an ``open`` call's mode (argument ``position`` or ``mode=``) writes."""
    mode = node.args[position] if len(node.args) > position else None
    mode = next((k.value for k in node.keywords if k.arg == "mode"), mode)
    return isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax+")


def _is_path_expression(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant | ast.JoinedStr):
        return isinstance(node, ast.JoinedStr) or isinstance(node.value, str)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return True
    return isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Path"


def _file_writes(source: str) -> list[str]:
    """The calls in a module that write files (see the tables above), as ``line N: call``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func, line = node.func, f"line {node.lineno}: "
        if isinstance(func, ast.Name) and func.id == "open" and _writes_mode(node, 1):
            found.append(line + "open(..., write mode)")
        if not isinstance(func, ast.Attribute):
            continue
        owner = func.value.id if isinstance(func.value, ast.Name) else None
        if func.attr in WRITING_FUNCTIONS.get(owner or "", ()):
            found.append(line + f"{owner}.{func.attr}")
        elif owner not in WRITING_FUNCTIONS and func.attr in WRITING_METHODS:
            found.append(line + f".{func.attr}()")
        elif func.attr == "rename" and len(node.args) == 1 and not node.keywords:
            found.append(line + ".rename(path)")
        elif func.attr in ("open", "fdopen") and _writes_mode(node, 0 if owner != "os" else 1):
            found.append(line + f".{func.attr}(..., write mode)")
        elif func.attr in TO_PATH_METHODS and any(
            _is_path_expression(a)
            for a in [*node.args[:1], *(k.value for k in node.keywords if k.arg in PATH_ARGUMENTS)]
        ):
            found.append(line + f".{func.attr}(a path)")
    return found


def test_no_module_outside_run_writes_a_file():
    # RunFolder (mtltune/run/folder.py) is the one gateway to the run folder's files, every
    # write atomic (mtltune/run/atomic.py); a user's file (predict --out) goes through atomic.
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(PACKAGE / "run"):
            continue
        if writes := _file_writes(path.read_text()):
            offenders[path.relative_to(ROOT).as_posix()] = writes
    assert not offenders, (
        f"files written outside mtltune/run/: {offenders}; add a typed method to "
        "mtltune.run.folder.RunFolder (its writes go through mtltune.run.atomic) and call it"
    )


@pytest.mark.parametrize(
    "call",
    [
        "Path('x').write_text('y')",
        "(folder / 'a.json').write_bytes(b'')",
        "open(name, 'w')",
        "open(name, mode='a')",
        "path.open('wb')",
        "os.replace(a, b)",
        "os.open(name, flags)",
        "os.fdopen(fd, 'w')",
        "json.dump(value, handle)",
        "np.savez_compressed(path, **arrays)",
        "shutil.rmtree(folder)",
        "table.to_csv(folder / 'trials.csv')",
        "fig.savefig('plot.png')",
        "model.save(Path(run) / 'best.keras')",
        "tmp.rename(target)",
        "folder.mkdir(parents=True)",
    ],
)
def test_the_file_write_check_sees_each_kind_of_write(call):
    assert _file_writes(call), call


def test_the_file_write_check_passes_reads_and_texts():
    reads = [
        "open(name)",
        "path.open('rb')",
        "json.dumps(value)",
        "table.to_csv(index=False)",
        "fig.savefig(buffer, format='png')",
        "text.replace('a', 'b')",
        "frame.rename(columns=names)",
        "os.fdopen(fd, 'rb')",
        "folder.write_trials(table)",
    ]
    assert [c for c in reads if _file_writes(c)] == []


#: Where the log keys are spelled (``mtltune.study.names``): nowhere else.
NAMES_MODULE = PACKAGE / "study" / "names.py"
#: Spellings of a log key's parts: the stop prefix, the learned-weight prefix.
LOG_KEY_PREFIXES = ("val_", "learned_weight_")


def _docstrings(tree: ast.AST) -> set[int]:
    """Ids of the docstring nodes of a module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(getattr(first.value, "value", None), str):
            found.add(id(first.value))
    return found


def _log_key_spellings(source: str) -> list[str]:
    """Log-key spellings in a module: ``"val_..."``, ``f"loss_{h}"``, ``f"{head}_{metric}"``."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        line = f"line {getattr(node, 'lineno', '?')}: "
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings and node.value.startswith(LOG_KEY_PREFIXES):
                found.append(line + repr(node.value))
        elif isinstance(node, ast.JoinedStr) and node.values:
            parts = node.values
            first = parts[0].value if isinstance(parts[0], ast.Constant) else None
            kinds = [type(p).__name__ for p in parts]
            if first == "loss_" and kinds[1:2] == ["FormattedValue"]:
                found.append(line + 'f"loss_{...}"')
            elif kinds == ["FormattedValue", "Constant", "FormattedValue"] and (
                parts[1].value == "_"
            ):
                found.append(line + 'f"{...}_{...}"')
    return found


def test_log_keys_are_spelled_only_in_study_names():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == NAMES_MODULE:
            continue
        if found := _log_key_spellings(path.read_text()):
            offenders[path.relative_to(ROOT).as_posix()] = found
    assert not offenders, (
        f"log keys spelled outside mtltune/study/names.py: {offenders}; use its STOP_PREFIX, "
        "stop_key, head_loss_key, head_metric_key or learned_weight_key"
    )
    # The check sees the spellings names.py owns (so it would see them anywhere else).
    assert len(_log_key_spellings(NAMES_MODULE.read_text())) >= 2


@pytest.mark.parametrize(
    "code",
    ['fit["val_" + key]', 'k.startswith("learned_weight_")', 'f"loss_{head}"', 'f"{h}_{m}"'],
)
def test_the_log_key_check_sees_each_spelling(code):
    assert _log_key_spellings(code), code


def test_the_log_key_check_passes_other_names():
    code = 'f"loss_weight_{h}"; f"{h}_hidden_{j}"; "loss_clean"; stop_key(head_loss_key(h))'
    assert _log_key_spellings(code) == []
