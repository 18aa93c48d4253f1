"""The ``mtltune`` command line: a thin typer layer over the library.

Exit codes: 0 ok; 2 invalid study or data (nothing written); 1 any other failure. ``validate``,
``show`` and ``--help`` never import TensorFlow: ``search`` imports it when it starts.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sized
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
import yaml
from rich.console import Console
from rich.table import Table

from mtltune.errors import InputError, MtlTuneError
from mtltune.study import Study, load_study
from mtltune.terminal import quiet_tensorflow

if TYPE_CHECKING:
    from mtltune.report.confirmation import ConfirmRun
    from mtltune.report.results import StudyResult, TrialRecord

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Search how the heads of a multi-task Keras model share the training signal.",
)
# Outside a terminal rich assumes 80 columns, too narrow for the per-head table.
_WIDTH = max(100, shutil.get_terminal_size((120, 24)).columns)
out = Console(width=_WIDTH)
err = Console(stderr=True, width=_WIDTH)

StudyArg = Annotated[
    Path, typer.Argument(help="The study YAML file.", metavar="STUDY", show_default=False)
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a study key, e.g. --set search.max_trials=10 (repeatable).",
        show_default=False,
    ),
]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose",
        metavar="",
        help="Show TensorFlow's own log lines (CUDA, oneDNN, ...), hidden by default.",
    ),
]


def _load(path: Path, overrides: list[str] | None) -> Study:
    try:
        return load_study(path, overrides or [])
    except InputError as exc:
        _fail(exc, 2)


def _fail(exc: BaseException, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(code=code) from None


@app.command()
def validate(study: StudyArg, overrides: SetOpt = None) -> None:
    """Check a study and its data without training (no TensorFlow)."""
    from mtltune.data import describe, prepare_dataset

    resolved = _load(study, overrides)
    try:
        info = describe(prepare_dataset(resolved))
    except InputError as exc:
        _fail(exc, 2)
    rows = ", ".join(f"{k} {v}" for k, v in info["rows"].items())
    out.print(
        f"[green]✓[/] study [bold]{resolved.name}[/] is valid: {_count(resolved.heads, 'head')}, "
        f"{_count(info['features'], 'input feature')}; rows {rows}",
        highlight=False,
    )


@app.command()
def show(study: StudyArg, overrides: SetOpt = None) -> None:
    """Print the resolved study, with every default filled in."""
    resolved = _load(study, overrides)
    out.print(yaml.safe_dump(resolved.resolved(), sort_keys=False), end="", highlight=False)


@app.command()
def search(
    study: StudyArg,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Run folder (default: runs/<study name>).",
            show_default=False,
        ),
    ] = None,
    overrides: SetOpt = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", metavar="", help="Replace an existing run folder instead of resuming."
        ),
    ] = False,
    replicates: Annotated[
        int | None,
        typer.Option(
            "--replicates",
            metavar="R",
            help="Retrain the best configuration and the baseline R times (report.replicates).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=0,
            metavar="N",
            help="Run Keras Tuner's distributed mode: this process is the chief, with N local "
            "worker processes (0: only workers started with `mtltune worker RUN_DIR`).",
            show_default=False,
        ),
    ] = None,
    bind: Annotated[
        str,
        typer.Option(
            "--bind",
            metavar="HOST",
            help="With --workers: address the chief listens on (0.0.0.0: "
            "all interfaces, for workers on other hosts).",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            "--port", min=0, max=65535, metavar="PORT", help="With --workers: port (0: a free one)."
        ),
    ] = 0,
    heartbeat_timeout: Annotated[
        float,
        typer.Option(
            "--heartbeat-timeout",
            min=1.0,
            metavar="SECONDS",
            help="With --workers: seconds of heartbeat silence after which a worker started "
            "elsewhere is presumed dead.",
        ),
    ] = 120.0,
    verbose: VerboseOpt = False,
) -> None:
    """Search the study and report per-head test performance of the best trial."""
    if workers is None and (bind != "127.0.0.1" or port != 0 or heartbeat_timeout != 120.0):
        _fail(MtlTuneError("--bind, --port and --heartbeat-timeout need --workers N"), 2)
    extra = [f"report.replicates={replicates}"] if replicates is not None else []
    resolved = _load(study, [*(overrides or []), *extra])
    from mtltune.data import prepare_dataset

    try:
        dataset = prepare_dataset(resolved)
    except InputError as exc:
        _fail(exc, 2)
    quiet_tensorflow(verbose)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from mtltune.distributed.chief import Distributed
    from mtltune.launch import default_run_folder, open_run
    from mtltune.run.files import REPORT_MD

    distributed = None
    if workers is not None:
        distributed = Distributed(
            workers=workers, bind=bind, port=port, heartbeat_timeout=heartbeat_timeout
        )
    folder = out_dir if out_dir is not None else default_run_folder(resolved)
    progress = _RichProgress()

    def on_sigint(signum: int, frame: Any) -> None:
        search = sys.modules.get("mtltune.search")
        if search is not None:  # honoured at the next batch even if this interrupt is swallowed
            search.request_stop()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        # The run (and its local workers) first: the workers start while this process imports
        # TensorFlow.
        with open_run(resolved, folder, overwrite=overwrite, distributed=distributed) as run:
            from mtltune.search import run_study

            result = run_study(resolved, run=run, progress=progress, dataset=dataset, report=True)
    except InputError as exc:
        _fail(exc, 2)
    except MtlTuneError as exc:
        _fail(exc, 1)
    except KeyboardInterrupt:
        err.print("interrupted: finished trials are kept; run the same command to resume")
        raise typer.Exit(code=130) from None
    except Exception as exc:  # a fault no check foresaw: a message, not a traceback
        if os.environ.get("MTLTUNE_TRACEBACK"):
            raise
        _fail(
            MtlTuneError(
                f"the search stopped on an unexpected {type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:300]}. Finished trials are kept; set "
                "MTLTUNE_TRACEBACK=1 to see where it happened"
            ),
            1,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    _print_result(result)
    out.print(f"report: {folder / REPORT_MD}", highlight=False)


RunDirArg = Annotated[
    Path, typer.Argument(help="A run folder written by mtltune search.", metavar="RUN_DIR")
]


@app.command()
def worker(
    run_dir: Annotated[
        Path,
        typer.Argument(
            help="The run folder of a running distributed search (shared).", metavar="RUN_DIR"
        ),
    ],
    chief: Annotated[
        str | None,
        typer.Option(
            "--chief",
            metavar="HOST:PORT",
            help="The chief's HOST:PORT (default: read from RUN_DIR/mtltune.lock).",
            show_default=False,
        ),
    ] = None,
    tuner_id: Annotated[
        str | None,
        typer.Option(
            "--id",
            metavar="ID",
            help="Worker id (default: tuner-<host>-<pid>).",
            show_default=False,
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            metavar="N",
            help="CPU threads for TensorFlow (default: all).",
            show_default=False,
        ),
    ] = None,
    study: Annotated[
        Path | None,
        typer.Option(
            "--study",
            metavar="FILE",
            help="The study file, if its data path differs on this host (default: the run "
            "folder's study.json).",
            show_default=False,
        ),
    ] = None,
    chief_timeout: Annotated[
        float,
        typer.Option(
            "--chief-timeout",
            min=1.0,
            metavar="SECONDS",
            help="Seconds the chief may be unreachable before this worker stops.",
        ),
    ] = 120.0,
    parent_pid: Annotated[int | None, typer.Option("--parent-pid", hidden=True)] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Join a running distributed search: run trials from its chief until none are left."""
    quiet_tensorflow(verbose)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from mtltune.distributed.worker import run_worker

    try:
        count = run_worker(
            run_dir,
            chief,
            tuner_id=tuner_id,
            threads=threads,
            parent_pid=parent_pid,
            study_file=study,
            chief_timeout=chief_timeout,
            echo=lambda line: out.print(line, highlight=False),
        )
    except InputError as exc:
        _fail(exc, 2)
    except MtlTuneError as exc:
        _fail(exc, 1)
    except KeyboardInterrupt:
        err.print("interrupted: the chief will report this worker as dead")
        raise typer.Exit(code=130) from None
    out.print(f"worker done: {count} trial(s); the chief has no more", highlight=False)


def _read_run(read: Callable[[], Any]) -> Any:
    """Read a run folder back; exit 2 if it is no run, 1 if it is damaged."""
    from mtltune.report.readback import NotARunError

    try:
        return read()
    except NotARunError as exc:
        _fail(exc, 2)
    except MtlTuneError as exc:
        _fail(exc, 1)


@app.command()
def report(run_dir: RunDirArg) -> None:
    """Re-render report.md, pareto.csv and the plots of a finished run (no retraining)."""
    from mtltune.report import write_report
    from mtltune.report.readback import load_result

    result = _read_run(lambda: load_result(run_dir, check_files=True))
    try:
        paths = write_report(result, run_dir)
    except OSError as exc:
        _fail(MtlTuneError(f"cannot write the report into {run_dir}: {exc}"), 1)
    plots = sorted(k for k in paths if k.startswith("plots/"))
    out.print(f"report: {paths['report.md']} ({len(plots)} plots)", highlight=False)


@app.command()
def trials(
    run_dir: RunDirArg,
    sort: Annotated[
        str,
        typer.Option(
            "--sort", metavar="KEY", help="objective, a head name (its stop loss), or trial."
        ),
    ] = "objective",
) -> None:
    """Print the trials of a run (finished or not), sorted by the objective or a head's loss."""
    from mtltune.report.readback import load_trials

    run = _read_run(lambda: load_trials(run_dir))
    heads = run.heads
    if sort not in ("objective", "trial", *heads):
        _fail(
            MtlTuneError(
                f"--sort must be objective, trial or a head ({', '.join(heads)}), got {sort!r}"
            ),
            2,
        )
    table = Table(title=f"{len(run.trials)} trials of {run.name}")
    for column in ["trial", "status", "strategy", "objective", "epochs", *heads]:
        table.add_column(
            column, justify="left" if column in ("trial", "status", "strategy") else "right"
        )
    for t in run.sorted_by(sort):
        table.add_row(
            t.trial_id,
            t.status,
            t.strategy,
            _cell(t.objective),
            _cell(t.epochs),
            *(_cell(t.stop.get(h, {}).get("loss")) for h in heads),
        )
    out.print(table)
    if not run.finished:
        out.print(
            "the search has not finished (no report.json yet): these are the trials so far",
            highlight=False,
        )


DataArg = Annotated[Path, typer.Argument(help="CSV or Parquet file with the input columns.")]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="CSV to write (default: DATA_predictions.csv).", show_default=False),
]


@app.command()
def predict(
    run_dir: RunDirArg,
    data: DataArg,
    out_file: OutOpt = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the --out file if it exists.")
    ] = False,
) -> None:
    """Predict new rows with a finished run's best model: one column per head."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from mtltune.predict import predict_file

    try:
        result = predict_file(run_dir, data, out_file, overwrite=overwrite)
    except InputError as exc:
        _fail(exc, 2)
    done = f"{result.rows} rows predicted: {result.out} ({', '.join(result.columns)})"
    out.print(done, highlight=False)


def _number(trial_id: str) -> str:
    """A trial's number, counted from 1 (Keras Tuner's trial ids count from 0)."""
    return f"{int(trial_id) + 1}" if trial_id.isdigit() else trial_id


class _RichProgress:
    """Prints one line per trial (number, strategy, objective, elapsed) and the stages."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.trial_started_at: dict[str, float] = {}  # several run at once with --workers

    def stage(self, message: str) -> None:
        out.print(f"[dim]{self._clock()}[/] {message}", highlight=False)

    def trial_started(self, trial_id: str, total: int) -> None:
        self.trial_started_at[trial_id] = time.perf_counter()
        out.print(
            f"[dim]{self._clock()}[/] trial {_number(trial_id)} of {total} (id {trial_id}) …",
            highlight=False,
        )

    def trial_finished(self, record: TrialRecord, total: int) -> None:
        seconds = time.perf_counter() - self.trial_started_at.pop(record.trial_id, self.started)
        if record.ok:
            what = f"objective [bold]{record.objective:.5g}[/] after {record.epochs} epochs"
        else:
            what = f"[red]{record.status}[/] {record.message or ''}"
        oracle = "" if record.oracle_seconds is None else f", oracle {record.oracle_seconds:.3f} s"
        out.print(
            f"[dim]{self._clock()}[/] trial {_number(record.trial_id)} of {total} "
            f"(id {record.trial_id}) [cyan]{record.strategy}[/] {what} ({seconds:.1f} s{oracle})",
            highlight=False,
        )

    def confirm_finished(self, run: ConfirmRun, number: int, total: int) -> None:
        if run.ok:
            what = f"objective [bold]{run.objective:.5g}[/] after {run.epochs} epochs"
            what += f" ({run.seconds:.1f} s)" if run.seconds is not None else ""
        else:
            what = f"[red]FAILED[/] {run.message or ''}"
        name = "baseline" if run.candidate == "baseline" else f"trial {run.candidate}"
        out.print(
            f"[dim]{self._clock()}[/] confirmation {number} of {total}: {name} "
            f"seed {run.seed} {what}",
            highlight=False,
        )

    def _clock(self) -> str:
        elapsed = int(time.perf_counter() - self.started)
        return f"{elapsed // 60:02d}:{elapsed % 60:02d}"


def _print_result(result: StudyResult) -> None:
    from mtltune.report import head_table

    out.print(f"\n{_headline(result)}", highlight=False)
    if "diverged" in result.baseline.plan:
        out.print(f"[red]the baseline diverged[/]: {result.baseline.plan['diverged']}")
    if result.confirmation is not None:
        confirmation = result.confirmation
        out.print(
            f"confirmed over {len(confirmation.seeds)} seeds: trial {confirmation.chosen} "
            f"chosen by its mean stop objective, {confirmation.verdict} (report: Confirmation)",
            highlight=False,
        )
    header, rows = head_table(result, compact=True)
    table = Table(title="per-head test performance (ratio = baseline / best test loss)")
    for column in header:
        table.add_column(column, justify="left" if column == "head" else "right", no_wrap=True)
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    out.print(table)


def _headline(result: StudyResult) -> str:
    """One line well under 80 columns; what the objective is, the report says."""
    best = result.best_trial
    return (
        f"best trial [bold]{best.trial_id}[/] ([cyan]{best.strategy}[/]): objective "
        f"[bold]{result.best.objective:.5g}[/], baseline {result.baseline.objective:.5g}"
    )


def _count(items: Sized, noun: str) -> str:
    """``1 head``, ``3 heads``."""
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "–" if value is None else str(value)


def main() -> None:
    """Entry point of the ``mtltune`` console script."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)
