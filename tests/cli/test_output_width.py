"""Every line mtltune prints fits 80 columns, or the terminal if narrower; one line per trial."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

import mtltune.cli.output as output
from mtltune.cli.progress import RichProgress, confirm_line, trial_line
from mtltune.report import TrialRecord
from mtltune.report.confirmation import ConfirmRun

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def console(width: int, terminal: bool) -> Console:
    return Console(file=io.StringIO(), width=width, force_terminal=terminal, color_system=None)


def screen(text: str) -> list[str]:
    """The lines a terminal shows: a carriage return and erase-line start the line over."""
    lines = []
    for raw in text.split("\n"):
        shown = raw.replace("\x1b[2K", "").split("\r")[-1]
        lines.append(ANSI.sub("", shown))
    return lines


def widths_ok(text: str, width: int) -> None:
    for line in text.splitlines():
        line = ANSI.sub("", line).split("\r")[-1]
        assert len(line) <= width, f"{len(line)} > {width}: {line!r}"


def record(trial_id: str, strategy: str = "uncertainty", ok: bool = True) -> TrialRecord:
    return TrialRecord(
        trial_id=trial_id,
        status="COMPLETED" if ok else "FAILED",
        strategy=strategy,
        hyperparameters={},
        plan={},
        objective=48712.34567 if ok else None,
        epochs=125 if ok else None,
        message=None if ok else "the loss of head price became NaN at epoch 3; " * 4,
        oracle_seconds=0.0123,
    )


def run_progress(progress: RichProgress) -> None:
    progress.stage("searching")
    progress.trial_started("98", 100)
    progress.trial_started("99", 100)
    progress.trial_finished(record("98"), 100)
    progress.trial_finished(record("99", ok=False), 100)
    progress.confirm_finished(ConfirmRun("baseline", 1007, "confirm", 0.16935, epochs=123), 10, 12)
    progress.close()


@pytest.mark.parametrize("width", [80, 50])
def test_a_log_gets_one_line_per_trial_each_fitting_the_width(width: int) -> None:
    progress = RichProgress(console(width, terminal=False))
    run_progress(progress)
    text = progress.console.file.getvalue()
    widths_ok(text, width)
    assert "…" not in text and "\r" not in text  # no start lines in a log
    failed = [line for line in text.splitlines() if " trial 100 of 100 " in line]
    assert len(failed) == 1 and "FAILED" in failed[0]
    done = [line for line in text.splitlines() if " trial 99 of 100 " in line]
    assert len(done) == 1
    if width == 80:  # narrower, rich wraps the line at a space: nothing is cut
        assert "uncertainty objective 48,712, 125 epochs" in done[0], done
    assert "48,712, 125 epochs" in " ".join(text.split())


def test_a_trial_line_keeps_its_optional_parts_while_they_fit() -> None:
    wide = trial_line("00:16", record("1", "weighted"), 20, 3.94, width=80)
    assert (
        wide.plain
        == (
            "00:16 trial 2 of 20 weighted objective 48,712, 125 epochs, 3.9 s, oracle 12 ms (id 1)"
        )[: len(wide.plain)]
    )
    assert len(wide.plain) <= 80 and "oracle 12 ms" in wide.plain
    narrow = trial_line("00:16", record("1", "weighted"), 20, 3.94, width=64)
    assert narrow.plain == "00:16 trial 2 of 20 weighted objective 48,712, 125 epochs, 3.9 s"


def test_in_a_terminal_the_start_line_is_replaced_in_place_by_the_result() -> None:
    progress = RichProgress(console(80, terminal=True))
    progress.trial_started("0", 20)
    assert screen(progress.console.file.getvalue())[-1].endswith("trial 1 of 20 …")
    progress.trial_started("1", 20)
    assert screen(progress.console.file.getvalue())[-1].endswith("trials 1, 2 of 20 …")
    progress.trial_finished(record("0", "weighted"), 20)
    shown = screen(progress.console.file.getvalue())
    assert shown[-1].endswith("trial 2 of 20 …")  # still running, on the status line
    assert [line for line in shown if "trial 1 of 20" in line] == [shown[-2]]
    assert "weighted objective 48,712" in shown[-2]
    progress.trial_finished(record("1", "weighted"), 20)
    progress.close()
    shown = screen(progress.console.file.getvalue())
    assert shown[-1] == ""  # the status line is erased once no trial runs
    assert not any("…" in line for line in shown)
    assert sum(" of 20 " in line for line in shown) == 2  # one line per trial
    widths_ok(progress.console.file.getvalue(), 80)


def mtltune(*args: str, columns: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns)}
    command = [sys.executable, "-m", "mtltune", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


#: Runs ``mtltune`` commands one after another in one process, as ``python -m mtltune`` runs
#: each (``main()``, its own ``sys.argv``); prints each one's exit code and output as JSON, and
#: whether TensorFlow was imported.
COMMANDS = """
import contextlib, io, json, sys
from mtltune.cli import main
printed = {}
for args in json.loads(sys.argv[1]):
    sys.argv = ["mtltune", *args]
    stdout, stderr, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main()
        except SystemExit as exit:
            code = exit.code or 0
    printed[args[0]] = {"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}
print(json.dumps({"printed": printed, "tensorflow": "tensorflow" in sys.modules}))
"""


@pytest.mark.parametrize("columns", [80, 45])
def test_commands_without_tensorflow_fit_the_terminal(tiny_run, columns: int) -> None:
    _, run_dir = tiny_run
    commands = [
        ["trials", str(run_dir)],
        ["report", str(run_dir)],
        ["show", str(ROOT / "studies" / "hetero_sine.yaml")],
        ["validate", str(ROOT / "studies" / "hetero_sine.yaml")],
        ["search", "--help"],
    ]
    env = {**os.environ, "COLUMNS": str(columns)}
    child = [sys.executable, "-c", COMMANDS, json.dumps(commands)]
    done = subprocess.run(child, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert not answer["tensorflow"]
    printed = answer["printed"]
    assert list(printed) == [args[0] for args in commands]
    for name, shown in printed.items():
        assert shown["code"] == 0, (name, shown["stderr"])
        assert shown["stdout"].strip(), name
        widths_ok(shown["stdout"], columns)
    assert "…" not in printed["trials"]["stdout"]  # columns that do not fit: a further table


def test_show_output_stays_the_study_in_a_narrow_terminal(tmp_path) -> None:
    from mtltune import load_study

    folder = tmp_path / "a folder with a rather long name for the data of this study"
    folder.mkdir()
    (folder / "table.csv").write_text("x,y\n" + "".join(f"{k},{k % 7}\n" for k in range(40)))
    study = tmp_path / "study.yaml"
    study.write_text(
        f"name: s\ndata: {{source: '{folder / 'table.csv'}', inputs: [x]}}\nheads: {{y: {{}}}}\n"
    )
    shown = mtltune("show", str(study), columns=45)
    assert shown.returncode == 0, shown.stderr
    assert max(len(line) for line in shown.stdout.splitlines()) > 45  # a long path: folded...
    assert yaml.safe_load(shown.stdout) == load_study(study).resolved()  # ... as YAML, intact


@pytest.mark.parametrize("width", [80, 40])
def test_the_result_table_fits(tiny_run, monkeypatch, width: int) -> None:
    result, _ = tiny_run
    monkeypatch.setattr(output, "out", console(width, terminal=False))
    output.print_result(result)
    text = output.out.file.getvalue()
    widths_ok(text, width)
    assert "…" not in text
    for head in result.best.test:
        assert any(line.lstrip().startswith(head) for line in text.splitlines()), head


def test_the_console_is_80_columns_at_most() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from mtltune.cli.output import out, err; print(out.width, err.width)",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    )
    assert done.stdout.split() == ["80", "80"]


DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TRIAL = re.compile(
    r"(\S+) trial (\d+) of (\d+) (\w+) objective ([\d.,]+), (\d+) epochs, ([\d.]+) s"
    r"(?:, oracle (\d+) ms)?(?: \(id \S+\))?"
)
FAILED = re.compile(r"(\S+) trial (\d+) of (\d+) (\w+) FAILED after ([\d.]+) s: (.+)")
CONFIRMATION = re.compile(
    r"(\S+) confirmation (\d+)/(\d+): (?:trial (\S+)|baseline) seed (\d+) "
    r"objective ([\d.,]+), (\d+) epochs, ([\d.]+) s"
)
VERDICT_WINS = re.compile(
    r"verdict: trial (\S+) \((\w+)\) beats equal weights: stop objective ([\d.]+) % lower "
    r"\(([\d.]+) %–([\d.]+) %\), (\d+) of (\d+) seeds"
)
VERDICT_STANDS = re.compile(
    r"verdict: equal weights stand: the best challenger, trial (\S+), was (?:([\d.]+) % "
    r"(lower|higher)|no better) at the study seed; best_model.keras is the equal-weights model"
)


def documented_lines() -> list[tuple[str, str]]:
    """Every line of a code block in the README and docs/, with its file's name."""
    lines = []
    for path in DOCUMENTS:
        for block in re.findall(r"^```[a-z]*\n(.*?)^```", path.read_text(), re.DOTALL | re.M):
            lines += [(path.name, line) for line in block.splitlines()]
    return lines


def a_trial(trial_id: str, strategy: str, objective: str | None, **more) -> TrialRecord:
    value = None if objective is None else float(objective.replace(",", ""))
    return TrialRecord(
        trial_id, "COMPLETED" if value else "FAILED", strategy, {}, {}, value, **more
    )


def test_documented_progress_lines_are_what_a_search_prints() -> None:
    checked = 0
    for name, line in documented_lines():
        if not re.match(r"\d+:\d\d (trial|confirmation) ", line):
            continue
        if found := TRIAL.fullmatch(line):
            clock, n, total, strategy, objective, epochs, seconds, oracle = found.groups()
            oracle_seconds = None if oracle is None else int(oracle) / 1000
            trial = a_trial(
                str(int(n) - 1),
                strategy,
                objective,
                epochs=int(epochs),
                oracle_seconds=oracle_seconds,
            )
            printed = trial_line(clock, trial, int(total), float(seconds), width=len(line))
        elif found := FAILED.fullmatch(line):
            clock, n, total, strategy, seconds, message = found.groups()
            trial = a_trial(str(int(n) - 1), strategy, None, message=message)
            printed = trial_line(clock, trial, int(total), float(seconds))
        elif found := CONFIRMATION.fullmatch(line):
            clock, k, total, trial_id, seed, objective, epochs, seconds = found.groups()
            run = ConfirmRun(
                trial_id or "baseline",
                int(seed),
                "confirm",
                float(objective.replace(",", "")),
                epochs=int(epochs),
                seconds=float(seconds),
            )
            printed = confirm_line(clock, run, int(k), int(total))
        else:
            raise AssertionError(f"{name}: {line!r} is no line mtltune prints")
        assert printed.plain == line, name
        checked += 1
    assert checked >= 4


def test_documented_verdicts_are_what_a_search_prints() -> None:
    from mtltune.report.race import Verdict

    def ratio(percent: str, way: str = "lower") -> float:
        change = float(percent) / 100
        return 1 / (1 - change) if way == "lower" else 1 / (1 + change)

    documented = [(n, line) for n, line in documented_lines() if line.startswith("verdict: ")]
    assert len(documented) >= 2
    for name, line in documented:
        if found := VERDICT_WINS.fullmatch(line):
            trial_id, strategy, change, lo, hi, won, seeds = found.groups()
            interval = [ratio(lo), ratio(hi)]
            verdict = Verdict(trial_id, strategy, trial_id, ratio(change), interval, int(seeds))
            verdict = replace(verdict, won=int(won))
        elif found := VERDICT_STANDS.fullmatch(line):
            trial_id, change, way = found.groups()
            tie = 1.0 if change is None else ratio(change, way)  # "no better": a tie
            verdict = Verdict("baseline", "weighted", trial_id, tie, seeds=0)
        else:
            raise AssertionError(f"{name}: {line!r} is no verdict mtltune prints")
        assert verdict.line() == line, name


@pytest.mark.parametrize("terminal", [True, False])
def test_an_error_fits_a_terminal_and_stays_one_line_in_a_log(
    tmp_path, monkeypatch, terminal
) -> None:
    cli = sys.modules["mtltune.cli.app"]  # (mtltune.cli.app is also the Typer app's name)
    import mtltune.cli.failing as failing

    monkeypatch.setattr(cli, "err", console(50, terminal=terminal))
    monkeypatch.setattr(failing, "err", cli.err)
    study = tmp_path / "study.yaml"
    study.write_text("name: s\ndata: {source: builtin:hetero_sine}\nheads: {y0: {kind: nope}}\n")
    assert CliRunner().invoke(cli.app, ["validate", str(study)]).exit_code == 2
    text = ANSI.sub("", cli.err.file.getvalue())
    assert "heads.y0.kind" in text and "error:" in text
    if terminal:
        widths_ok(text, 50)
        assert len(text.splitlines()) > 2
    else:
        assert any(len(line) > 50 for line in text.splitlines())  # not cut up for grep
