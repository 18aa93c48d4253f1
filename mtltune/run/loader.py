"""Everything mtltune reads back from a run folder, validated: a run folder is untrusted input.

A run folder may have been copied, edited, truncated or built by someone else. Whatever is read
from it passes the checks a study passes before it is used: its files are plain files inside
the folder (no symbolic link, no size beyond a cap), names in ``report.json`` follow the
study's name rules, ``preprocessing.json`` matches a schema (every key, finite standard
deviations above 0, the model file fixed to ``best_model.keras``), ``best_model.keras`` is a
zip archive whose members' sizes are capped before Keras opens it, and Keras Tuner's JSON
files are whole before a search resumes. A failed check is a ``DamagedRunError`` (exit 1) with
one line naming the file and what is wrong in it. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mtltune.data.dataset import InputEncoder, TargetEncoder
from mtltune.data.preprocessing import Preprocessing
from mtltune.data.scaling import TargetScale
from mtltune.run.checks import damaged, decode_json, no_link
from mtltune.run.files import BEST_MODEL, PREPROCESSING_JSON, PROJECT
from mtltune.study.names import is_name

#: Largest JSON file read from a run folder (report.json of 10,000 trials is ~30 MB).
MAX_JSON_BYTES = 256 << 20
#: Largest JSON member (``config.json``, ``metadata.json``) of ``best_model.keras``.
MAX_MODEL_JSON_BYTES = 16 << 20
#: Largest member of ``best_model.keras`` (its weights).
MAX_MODEL_MEMBER_BYTES = 4 << 30
#: Beyond this many bytes, a member packed more than ``MAX_RATIO`` times is a zip bomb.
RATIO_FLOOR = 64 << 20
MAX_RATIO = 200
#: Keras Tuner's trial ids (``0``, ``07``, ``trial_3``...): nothing that can name a path.
TRIAL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def plain_file(path: Path, root: Path, *, limit: int = MAX_JSON_BYTES) -> Path:
    """``path`` if it is a plain file inside ``root`` (no link on the way) within ``limit``.

    Raises:
        DamagedRunError: If it leaves the folder, is (or lies under) a link, is not a plain
            file, or is larger than ``limit``.
        FileNotFoundError: If it does not exist.
    """
    no_link(path, root)
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise damaged(path, "it is not a plain file")
    if info.st_size > limit:
        raise damaged(path, f"it holds {info.st_size:,} bytes, more than the {limit:,} allowed")
    return path


def read_document(path: Path, root: Path) -> dict[str, Any]:
    """A JSON object read from a plain file inside ``root``.

    Raises:
        DamagedRunError: Naming the file: a link, too large, not UTF-8, not JSON, not an object.
    """
    value = read_json_value(path, root)
    if not isinstance(value, dict):
        raise damaged(path, f"expected a JSON object, found a {type(value).__name__}")
    return value


def read_json_value(path: Path, root: Path) -> Any:
    """Any JSON value read from a plain file inside ``root``.

    Raises:
        DamagedRunError: Naming the file: a link, too large, not UTF-8, not JSON.
    """
    plain_file(path, root)
    return decode_json(path)


def check_report_names(path: Path, heads: Iterable[str], trial_ids: Iterable[str]) -> None:
    """Head names and trial ids read from ``report.json`` follow the study's rules.

    They become file names (``plots/predictions_<head>.png``, ``histories/<trial>.json``), so a
    name such as ``../../x`` must never reach a path.

    Raises:
        DamagedRunError: Naming the first bad name.
    """
    for head in heads:
        if not (isinstance(head, str) and is_name(head)):
            raise damaged(path, f"head name {head!r} is not a valid name (letters, digits, _)")
    for trial in trial_ids:
        if not (isinstance(trial, str) and TRIAL_ID.fullmatch(trial)):
            raise damaged(path, f"trial id {trial!r} is not a Keras Tuner trial id")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Numeric(_Strict):
    mean: float = Field(allow_inf_nan=False)
    std: float = Field(gt=0, allow_inf_nan=False)


class _Inputs(_Strict):
    columns: list[str]
    numeric: dict[str, _Numeric]
    categorical: dict[str, list[str]]
    features: list[str]


class _Scale(_Strict):
    kind: Literal["none", "standard", "log"]
    center: float = Field(allow_inf_nan=False)
    spread: float = Field(gt=0, allow_inf_nan=False)


class _Head(_Strict):
    target: str
    kind: Literal["regression", "binary", "multiclass"]
    classes: list[str | int | float | bool]
    scale: _Scale


class _Document(_Strict):
    format: Literal[1]
    model: Literal["best_model.keras"]
    inputs: _Inputs
    heads: dict[str, _Head] = Field(min_length=1)


def load_preprocessing(run_dir: Path) -> Preprocessing:
    """``preprocessing.json``, validated, as the fitted ``Preprocessing``.

    The model file is always ``best_model.keras`` in ``run_dir``: the document cannot choose
    another (``"model"`` must say exactly that).

    Raises:
        DamagedRunError: Naming the file, the key and what is wrong with it.
    """
    path = run_dir / PREPROCESSING_JSON
    raw = read_document(path, run_dir)
    try:
        doc = _Document.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise damaged(path, f"key {where}: {_problem(first)}") from None
    inputs = doc.inputs
    declared = set(inputs.numeric) | set(inputs.categorical)
    if set(inputs.columns) != declared or len(inputs.columns) != len(declared):
        raise damaged(path, "inputs.columns does not list exactly the numeric and categorical ones")
    encoder = InputEncoder(
        numeric={c: (v.mean, v.std) for c, v in inputs.numeric.items()},
        categorical={c: list(v) for c, v in inputs.categorical.items()},
    )
    if encoder.feature_names != inputs.features:
        raise damaged(path, "inputs.features does not match the numeric and categorical inputs")
    for head, spec in doc.heads.items():
        if not is_name(head):
            raise damaged(path, f"head name {head!r} is not a valid name (letters, digits, _)")
        if spec.kind != "regression" and len(spec.classes) < 2:
            raise damaged(path, f"heads.{head}.classes: a {spec.kind} head needs 2 classes")
    return Preprocessing(
        columns=list(inputs.columns),
        inputs=encoder,
        targets={
            h: TargetEncoder(
                kind=v.kind,
                classes=list(v.classes),
                scale=TargetScale(v.scale.kind, v.scale.center, v.scale.spread),
            )
            for h, v in doc.heads.items()
        },
        target_columns={h: v.target for h, v in doc.heads.items()},
        model_file=BEST_MODEL,
    )


def _problem(error: Mapping[str, Any]) -> str:
    """One pydantic error as words: what was expected and what was found."""
    if error["type"] == "missing":
        return "missing (every key mtltune writes is needed)"
    if error["type"] == "extra_forbidden":
        return "not a key mtltune writes"
    found = repr(error.get("input"))
    found = found if len(found) <= 60 else found[:59] + "…"
    return f"{error['msg'].lower()}, found {found}"


def check_model_archive(run_dir: Path) -> Path:
    """``best_model.keras``, checked to be a zip archive Keras can open without harm.

    Member sizes are read from the archive's directory (Keras' own ``zipfile`` reads no more
    than they say) and capped before Keras opens it: a small file unpacking to gigabytes is
    refused.

    Raises:
        DamagedRunError: If it is not a zip, lacks ``config.json``, or a member is too large.
    """
    path = plain_file(run_dir / BEST_MODEL, run_dir, limit=MAX_MODEL_MEMBER_BYTES)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise damaged(path, f"it is not a Keras archive (zip): {exc}") from None
    names = {m.filename for m in members}
    if "config.json" not in names:
        raise damaged(path, "it holds no config.json: it is not a saved Keras model")
    for member in members:
        size = member.file_size
        limit = MAX_MODEL_JSON_BYTES if member.filename.endswith(".json") else None
        if limit is not None and size > limit:
            raise damaged(path, f"its {member.filename} unpacks to {size:,} bytes (cap {limit:,})")
        if size > MAX_MODEL_MEMBER_BYTES or (
            size > RATIO_FLOOR and size > MAX_RATIO * max(member.compress_size, 1)
        ):
            raise damaged(path, f"its {member.filename} unpacks to {size:,} bytes: refused")
    return path


def check_outputs(path: Path, outputs: Iterable[str], heads: Iterable[str]) -> None:
    """The loaded model's outputs include every head of ``preprocessing.json``.

    Raises:
        DamagedRunError: Naming the missing outputs.
    """
    have = set(outputs)
    missing = [h for h in heads if h not in have]
    if missing:
        raise damaged(
            path,
            f"its outputs ({', '.join(sorted(have)) or 'none'}) lack the heads "
            f"{', '.join(missing)} of {PREPROCESSING_JSON}: the two files are of different runs",
        )


def check_tuner_state(run_dir: Path) -> None:
    """Before a search resumes: every JSON file of Keras Tuner's ``tuner/`` is whole.

    Raises:
        DamagedRunError: Naming the first damaged file (``tuner/oracle.json`` truncated...).
    """
    tuner = run_dir / PROJECT
    if not tuner.is_dir():
        return
    for parent, _, files in os.walk(tuner):
        for name in sorted(files):
            if name.endswith(".json"):
                read_json_value(Path(parent) / name, run_dir)
