"""Every name mtltune gives a file or folder inside a run folder, in one place.

A run folder is ``runs/<study name>/`` or the ``--out`` of ``mtltune search``. Whatever reads,
writes, resumes or clears a run folder takes the names from here, so that ``--overwrite`` can
clear exactly what mtltune wrote and nothing of the user's.
"""

from __future__ import annotations

#: The resolved study and its fingerprint: mtltune's marker of a run folder.
STUDY_FILE = "study.json"
#: The run folder's lock (``flock``), naming its holder.
LOCK_FILE = "mtltune.lock"
#: Keras Tuner's project folder (its oracle, trials and checkpoints).
PROJECT = "tuner"
#: The report, as data and as Markdown.
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
#: The trials table, rewritten after every trial.
TRIALS_CSV = "trials.csv"
#: The Pareto front of the per-head stop losses.
PARETO_CSV = "pareto.csv"
#: Test-split predictions of the best model and the baseline.
PREDICTIONS_NPZ = "predictions.npz"
#: Per-head test losses of the replicates.
REPLICATES_NPZ = "replicates.npz"
#: Each finished replicate's predictions, ``replicates/<number>.npz`` (what a resumed search keeps).
REPLICATES_DIR = "replicates"
#: Each search session's seconds by step (a resumed run's report counts every session).
SESSIONS_JSON = "sessions.json"
#: The best trial's trained model, outputs in the targets' units (``keras.saving.load_model``).
BEST_MODEL = "best_model.keras"
#: The fitted preprocessing of the best model's inputs and targets (plain JSON).
PREPROCESSING_JSON = "preprocessing.json"
#: Per-trial training curves, ``histories/<trial id>.json``.
HISTORIES = "histories"
#: Confirmation runs (``search.confirm``): one row per run, rewritten after each run.
CONFIRM_CSV = "confirm.csv"
#: The confirmation runs as data, with the study fingerprint (what a resumed search keeps).
CONFIRM_JSON = "confirm.json"
#: The confirmation runs' weights, ``confirm/<candidate>-<seed>.weights.h5``.
CONFIRM_DIR = "confirm"
#: The report's figures.
PLOTS = "plots"
#: TensorBoard logs (``report.tensorboard``).
TENSORBOARD = "tensorboard"
#: Distributed search: worker logs and heartbeats.
WORKERS_DIR = "workers"
#: A failed trial's message, in its Keras Tuner trial folder (distributed search).
MESSAGE_FILE = "message.txt"

#: Every top-level entry mtltune writes into a run folder (what ``--overwrite`` may clear).
RUN_ENTRIES = (
    STUDY_FILE,
    PROJECT,
    REPORT_JSON,
    REPORT_MD,
    TRIALS_CSV,
    PARETO_CSV,
    PREDICTIONS_NPZ,
    REPLICATES_NPZ,
    REPLICATES_DIR,
    SESSIONS_JSON,
    BEST_MODEL,
    PREPROCESSING_JSON,
    CONFIRM_CSV,
    CONFIRM_JSON,
    CONFIRM_DIR,
    HISTORIES,
    PLOTS,
    TENSORBOARD,
    WORKERS_DIR,
)

#: A failed trial's full traceback, in its Keras Tuner trial folder (the terminal shows one line).
TRACEBACK_FILE = "traceback.txt"
