"""The ``mtltune`` commands: each parses its arguments, calls the library and prints.

Exit codes: 0 ok; 2 invalid study or data (nothing written); 1 any other failure. An mtltune
error a command lets through exits with its class's ``exit_code`` (``mtltune.cli.failing``,
around every command). An error is wrapped to the width in a terminal, one line in a log (where
it is grepped). ``validate``, ``show`` and ``--help`` never import TensorFlow: ``search``
imports it when it starts.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml

from mtltune.cli.failing import fail as _fail
from mtltune.cli.failing import fail_after_report
from mtltune.cli.failing import unexpected as _unexpected
from mtltune.cli.helptext import Command, Group
from mtltune.cli.output import count, err, out, print_result, print_trials
from mtltune.cli.progress import RichProgress
from mtltune.cli.signals import interruptible
from mtltune.distributed.chief import DistributedOptions
from mtltune.errors import MtlTuneError
from mtltune.run.imports import lean_imports, unused_packages
from mtltune.run.stop import StopToken
from mtltune.study import load_study
from mtltune.terminal import quiet_tensorflow

app = typer.Typer(
    cls=Group,
    add_completion=False,
    no_args_is_help=True,
    help="Search how the heads of a multi-task Keras model share the training signal.",
)

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


@app.command(cls=Command)
def validate(study: StudyArg, overrides: SetOpt = None) -> None:
    """Check a study and its data without training (no TensorFlow)."""
    from mtltune.data import describe, prepare_dataset

    resolved = load_study(study, overrides or [])
    try:
        info = describe(prepare_dataset(resolved))
    except Exception as exc:  # a fault no check foresaw: a message, not a traceback
        _unexpected(exc, "validate")
    rows = ", ".join(f"{k} {v}" for k, v in info["rows"].items())
    out.print(
        f"[green]✓[/] study [bold]{resolved.name}[/] is valid: {count(resolved.heads, 'head')}, "
        f"{count(info['features'], 'input feature')}; rows {rows}",
        highlight=False,
    )


@app.command(cls=Command)
def show(study: StudyArg, overrides: SetOpt = None) -> None:
    """Print the resolved study, with every default filled in."""
    resolved = load_study(study, overrides or [])
    text = yaml.safe_dump(resolved.resolved(), sort_keys=False, width=out.width)  # YAML folds
    out.print(text, end="", highlight=False, soft_wrap=True)  # rich's wrapping would break it


@app.command(cls=Command)
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
    ] = DistributedOptions.bind,
    port: Annotated[
        int,
        typer.Option(
            "--port", min=0, max=65535, metavar="PORT", help="With --workers: port (0: a free one)."
        ),
    ] = DistributedOptions.port,
    heartbeat_timeout: Annotated[
        float,
        typer.Option(
            "--heartbeat-timeout",
            min=1.0,
            metavar="SECONDS",
            help="With --workers: seconds of heartbeat silence after which a worker started "
            "elsewhere is presumed dead.",
        ),
    ] = DistributedOptions.heartbeat_timeout,
    verbose: VerboseOpt = False,
) -> None:
    """Search the study and report per-head test performance of the best trial."""
    options = {"bind": bind, "port": port, "heartbeat_timeout": heartbeat_timeout}
    if workers is None and any(v != getattr(DistributedOptions, k) for k, v in options.items()):
        _fail(MtlTuneError("--bind, --port and --heartbeat-timeout need --workers N"), 2)
    extra = [f"report.replicates={replicates}"] if replicates is not None else []
    resolved = load_study(study, [*(overrides or []), *extra])
    from mtltune.data import prepare_dataset

    try:
        dataset = prepare_dataset(resolved)
    except Exception as exc:  # a fault no check foresaw: a message, not a traceback
        _unexpected(exc, "preparing the data")
    quiet_tensorflow(verbose)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from mtltune.launch import default_run_folder, open_run
    from mtltune.run.files import REPORT_MD

    distributed = None if workers is None else DistributedOptions(workers=workers, **options)
    folder = out_dir if out_dir is not None else default_run_folder(resolved)
    progress = RichProgress()
    stop = StopToken()  # the run's: the signal handler requests it, its trials honour it
    try:
        # The run (and its local workers) first: the workers start while this process imports
        # TensorFlow. SIGTERM stops it like Ctrl-C (mtltune.cli.signals).
        with (
            interruptible(stop.request),
            open_run(
                resolved, folder, overwrite=overwrite, distributed=distributed, stop=stop
            ) as run,
        ):
            with lean_imports(unused_packages(resolved.search.tuner)):  # mtltune.run.imports
                from mtltune.search import run_study

            result = run_study(resolved, run=run, progress=progress, dataset=dataset, report=True)
    except KeyboardInterrupt:
        err.print("interrupted: finished trials are kept; run the same command to resume")
        raise typer.Exit(code=130) from None
    except Exception as exc:  # a fault no check foresaw: a message, not a traceback
        _unexpected(exc, "the search", "Finished trials are kept. ")
    finally:
        progress.close()
    print_result(result)
    out.print(f"report: {folder / REPORT_MD}", highlight=False)
    fail_after_report(result.failures)


RunDirArg = Annotated[
    Path, typer.Argument(help="A run folder written by mtltune search.", metavar="RUN_DIR")
]


@app.command(cls=Command)
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

    stop = StopToken()  # the worker's: the signal handler requests it, its trials honour it
    try:
        with interruptible(stop.request):
            trials_run = run_worker(
                run_dir,
                chief,
                tuner_id=tuner_id,
                threads=threads,
                parent_pid=parent_pid,
                study_file=study,
                chief_timeout=chief_timeout,
                echo=lambda line: out.print(line, highlight=False),
                stop=stop,
            )
    except KeyboardInterrupt:
        err.print("interrupted: the chief will report this worker as dead")
        raise typer.Exit(code=130) from None
    out.print(f"worker done: {trials_run} trial(s); the chief has no more", highlight=False)


@app.command(cls=Command)
def report(run_dir: RunDirArg) -> None:
    """Re-render report.md, pareto.csv and the plots of a finished run (no retraining)."""
    from mtltune.report.rerender import rerender_report

    try:
        paths = rerender_report(run_dir)
    except OSError as exc:
        _fail(MtlTuneError(f"cannot write the report into {run_dir}: {exc}"), 1)
    plots = sorted(k for k in paths if k.startswith("plots/"))
    out.print(f"report: {paths['report.md']} ({len(plots)} plots)", highlight=False)


@app.command(cls=Command)
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

    run = load_trials(run_dir)
    heads = run.heads
    if sort not in ("objective", "trial", *heads):
        _fail(
            MtlTuneError(
                f"--sort must be objective, trial or a head ({', '.join(heads)}), got {sort!r}"
            ),
            2,
        )
    print_trials(run, sort)


DataArg = Annotated[Path, typer.Argument(help="CSV or Parquet file with the input columns.")]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="CSV to write (default: beside DATA, its name with _predictions: "
        "new.csv gives new_predictions.csv).",
        show_default=False,
    ),
]


@app.command(cls=Command)
def predict(
    run_dir: RunDirArg,
    data: DataArg,
    out_file: OutOpt = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the --out file if it exists.")
    ] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Predict new rows with a finished run's best model: one column per head."""
    quiet_tensorflow(verbose)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with lean_imports(unused_packages()):
        from mtltune.predict import predict_file

    result = predict_file(run_dir, data, out_file, overwrite=overwrite)
    for column, (rows, first) in result.unseen.items():
        warning = f"{rows} rows hold categories unseen in training (first: {first!r})"
        err.print(f"warning: column {column!r}: {warning}; encoded as no category", soft_wrap=True)
    done = f"{result.rows} rows predicted: {result.out} ({', '.join(result.columns)})"
    out.print(done, highlight=False)


def main() -> None:
    """Entry point of the ``mtltune`` console script."""
    # SIGTERM or Ctrl-C before a command's own handling: a message, and typer exits 130.
    try:
        with interruptible(lambda: err.print("interrupted")):
            app()
    except KeyboardInterrupt:  # pragma: no cover - between typer's handling and here
        sys.exit(130)
