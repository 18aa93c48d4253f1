"""The study schema: bundled studies validate, defaults fill in, errors name their key path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import TINY, deep_update
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mtltune import HeadConfig, SearchConfig, Study, StudyError, TrainingConfig, load_study
from mtltune.cli import app
from mtltune.errors import InputError, MtlTuneError, Problem
from mtltune.study.yamlio import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
STUDIES = sorted((ROOT / "studies").glob("*.yaml"))

# The conftest study, with one head that has no noise-free target.
BASE: dict[str, Any] = deep_update(TINY, {})
BASE["heads"]["y2"] = {}
merged = deep_update


@pytest.fixture
def raw() -> dict[str, Any]:
    return copy.deepcopy(BASE)


@pytest.fixture
def write(tmp_path: Path):
    """Write BASE updated by a mapping as YAML and return the path."""

    def _write(updates: dict[str, Any] | None = None, name: str = "study.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(merged(BASE, updates or {}), sort_keys=False))
        return path

    return _write


def problems_of(exc: pytest.ExceptionInfo[StudyError]) -> dict[str, str]:
    for problem in exc.value.problems:
        assert isinstance(problem, Problem)
        assert isinstance(problem.where, str) and isinstance(problem.message, str)
    return {p.where: p.message for p in exc.value.problems}


def invalid(path: Path, overrides: list[str] | None = None) -> pytest.ExceptionInfo[StudyError]:
    with pytest.raises(StudyError) as exc:
        load_study(path, overrides or [])
    return exc


# ---------------------------------------------------------------------------------------------
# Bundled studies


def test_bundled_studies_exist() -> None:
    assert {p.stem for p in STUDIES} >= {"hetero_sine", "phase_sine", "reg_class"}


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_every_bundled_study_validates(path: Path) -> None:
    study = load_study(path)
    assert isinstance(study, Study)
    assert study.name == path.stem
    assert study.heads
    for name, head in study.heads.items():
        assert head.target  # filled in from the head name when omitted
        assert head.loss is not None and head.metrics
        assert head.target not in (study.data.inputs or []), name
    assert study.base_dir == path.resolve().parent
    if not study.data.is_builtin:
        assert study.data_path() is not None and study.data_path().is_file()


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_every_bundled_study_round_trips(path: Path) -> None:
    study = load_study(path)
    resolved = study.resolved()
    json.dumps(resolved, allow_nan=False)  # plain, strict JSON data
    assert Study.from_dict(resolved, base_dir=study.base_dir) == study


def test_hetero_sine_study_matches_the_reference_experiment() -> None:
    study = load_study(ROOT / "studies" / "hetero_sine.yaml")
    assert list(study.heads) == [f"y{i}" for i in range(5)]
    assert all(h.clean_target == "y" for h in study.heads.values())
    assert study.split.shuffle is False
    assert (study.split.train, study.split.stop, study.split.test) == (0.05, 0.45, 0.5)
    assert study.data.params is not None and study.data.params.tasks == 5


def test_public_types_are_exported() -> None:
    assert issubclass(StudyError, InputError) and issubclass(StudyError, MtlTuneError)
    assert issubclass(StudyError, ValueError)
    assert HeadConfig().loss == "mse"
    assert TrainingConfig().max_epochs == 100
    assert SearchConfig().tuner == "tpe"


# ---------------------------------------------------------------------------------------------
# Defaults


def test_head_defaults_per_kind(raw) -> None:
    raw["heads"] = {"r": {}, "b": {"kind": "binary"}, "m": {"kind": "multiclass"}}
    study = Study.from_dict(raw)
    r, b, m = study.heads["r"], study.heads["b"], study.heads["m"]
    assert (r.kind, r.loss, r.metrics) == ("regression", "mse", ["mae", "rmse"])
    assert (b.loss, b.metrics) == ("binary_crossentropy", ["accuracy", "auc"])
    assert (m.loss, m.metrics) == ("categorical_crossentropy", ["accuracy"])
    assert r.hidden == [] and r.clean_target is None and b.positive_class is None


def test_head_target_defaults_to_the_head_name(raw) -> None:
    raw["heads"] = {"y0": {}, "other": {"target": "y1"}}
    study = Study.from_dict(raw)
    assert study.heads["y0"].target == "y0"
    assert study.heads["other"].target == "y1"


def test_explicit_head_settings_are_kept(raw) -> None:
    raw["heads"] = {"y0": {"loss": "huber", "metrics": ["mse"], "hidden": [8, 4]}}
    head = Study.from_dict(raw).heads["y0"]
    assert (head.loss, head.metrics, head.hidden) == ("huber", ["mse"], [8, 4])


def test_section_defaults(tmp_path) -> None:
    path = tmp_path / "minimal.yaml"
    path.write_text("name: minimal\ndata: {source: 'builtin:phase_sine'}\nheads: {y0: {}}\n")
    study = load_study(path)
    assert study.seed == 0
    assert study.data.inputs == ["x"]  # built-in default
    assert study.data.params is not None
    assert (study.data.params.n, study.data.params.tasks) == (10_000, 5)
    assert (study.split.train, study.split.stop, study.split.test) == (0.6, 0.2, 0.2)
    assert study.split.shuffle is True
    assert study.model.units == [64, 64] and study.model.activation == "relu"
    assert study.training.max_epochs == 100 and study.training.patience == 5
    assert study.search.strategies == ["weighted", "separate"]
    assert study.search.tuner == "tpe" and study.search.max_trials == 20
    assert study.search.objective.kind == "geometric_mean"
    assert study.search.objective.direction == "min"
    assert study.search.loss_weight.min < study.search.loss_weight.max
    assert study.data_path() is None


def test_studies_are_immutable(raw) -> None:
    study = Study.from_dict(raw)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        study.seed = 4  # type: ignore[misc]
    assert study.seed == 3


# ---------------------------------------------------------------------------------------------
# Unknown keys and wrong types


def test_unknown_key_names_its_path_and_suggests(write) -> None:
    exc = invalid(write({"search": {"max_trails": 3}}))
    assert [p.where for p in exc.value.problems] == ["search.max_trails"]
    message = exc.value.problems[0].message
    assert "unknown key 'max_trails'" in message
    assert "did you mean 'max_trials'" in message
    assert "search.max_trails" in str(exc.value)
    assert "did you mean 'max_trials'" in str(exc.value)


def test_unknown_key_inside_a_head(write) -> None:
    exc = invalid(write({"heads": {"y0": {"lossy": "mse"}}}))
    problems = problems_of(exc)
    assert list(problems) == ["heads.y0.lossy"]
    assert "did you mean 'loss'" in problems["heads.y0.lossy"]
    assert "clean_target" in problems["heads.y0.lossy"]  # the allowed keys are listed
    assert "heads.y0.lossy" in str(exc.value)


@pytest.mark.parametrize(
    ("updates", "where", "suggestion"),
    [
        ({"nmae": "x"}, "nmae", "name"),
        ({"data": {"params": {"nn": 5}}}, "data.params.nn", "n"),
        ({"split": {"trian": 0.5}}, "split.trian", "train"),
        ({"search": {"objective": {"kindd": "head"}}}, "search.objective.kindd", "kind"),
        ({"search": {"baseline": {"learning_rat": 0.1}}}, "search.baseline.learning_rat", None),
    ],
)
def test_unknown_keys_at_every_level(write, updates, where, suggestion) -> None:
    problems = problems_of(invalid(write(updates)))
    assert where in problems
    assert "unknown key" in problems[where]
    if suggestion is not None:
        assert f"did you mean {suggestion!r}" in problems[where]


def test_unknown_key_without_a_close_match_lists_the_allowed_keys(write) -> None:
    problems = problems_of(invalid(write({"training": {"zzzzzz": 1}})))
    message = problems["training.zzzzzz"]
    assert "did you mean" not in message
    assert "max_epochs" in message and "batch_size" in message and "patience" in message


def test_every_problem_is_reported_at_once(write) -> None:
    exc = invalid(write({"search": {"max_trails": 3}, "training": {"batch_size": "big"}}))
    assert {"search.max_trails", "training.batch_size"} <= set(problems_of(exc))


@pytest.mark.parametrize(
    ("updates", "where", "found"),
    [
        ({"training": {"batch_size": "big"}}, "training.batch_size", "'big'"),
        ({"training": {"max_epochs": 0}}, "training.max_epochs", "0"),
        ({"heads": {"y0": {"hidden": "8"}}}, "heads.y0.hidden", "'8'"),
        ({"heads": {"y0": {"hidden": [8, -1]}}}, "heads.y0.hidden.1", "-1"),
        ({"seed": -1}, "seed", "-1"),
        ({"model": {"dropout": 1.5}}, "model.dropout", "1.5"),
        ({"data": {"inputs": "x"}}, "data.inputs", "'x'"),
        ({"search": {"max_trials": [3]}}, "search.max_trials", "[3]"),
    ],
)
def test_wrong_type_names_the_path_and_value(write, updates, where, found) -> None:
    problems = problems_of(invalid(write(updates)))
    assert where in problems
    assert found in problems[where]
    assert where in str(invalid(write(updates)).value)


def test_wrong_type_in_a_union_field_names_the_key_path(write) -> None:
    # positive_class is str | int | bool | None: the path must still be the YAML key path,
    # not a pydantic union member such as heads.y0.positive_class.str
    exc = invalid(write({"heads": {"y0": {"kind": "binary", "positive_class": [1]}}}))
    assert {p.where for p in exc.value.problems} == {"heads.y0.positive_class"}


def test_missing_required_keys(tmp_path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("seed: 1\n")
    problems = problems_of(invalid(path))
    assert {"name", "data", "heads"} <= set(problems)
    assert "required" in problems["name"].lower()


# ---------------------------------------------------------------------------------------------
# Values


def test_split_must_sum_to_one(write) -> None:
    exc = invalid(write({"split": {"train": 0.5, "stop": 0.3, "test": 0.3}}))
    problems = problems_of(exc)
    assert list(problems) == ["split"]
    assert "must be 1" in problems["split"] and "1.1" in problems["split"]


def test_split_fraction_out_of_range(write) -> None:
    problems = problems_of(invalid(write({"split": {"train": 1.2, "stop": -0.1, "test": -0.1}})))
    assert {"split.train", "split.stop", "split.test"} <= set(problems)


@pytest.mark.parametrize("key", ["loss_weight", "learning_rate", "epsilon"])
def test_log_range_min_above_max(write, key) -> None:
    problems = problems_of(invalid(write({"search": {key: {"min": 0.1, "max": 0.01}}})))
    assert list(problems) == [f"search.{key}"]
    assert "min must be <= max" in problems[f"search.{key}"]


def test_log_range_equal_bounds_are_allowed(write) -> None:
    study = load_study(write({"search": {"learning_rate": {"min": 0.01, "max": 0.01}}}))
    assert study.search.learning_rate.min == study.search.learning_rate.max == 0.01


def test_non_positive_log_bound(write) -> None:
    problems = problems_of(invalid(write({"search": {"epsilon": {"min": 0, "max": 0.01}}})))
    assert "search.epsilon.min" in problems


@pytest.mark.parametrize(
    ("head", "where", "words"),
    [
        ({"kind": "ordinal"}, "heads.y0.kind", "regression"),
        ({"loss": "binary_crossentropy"}, "heads.y0", "mse, mae, huber"),
        ({"kind": "binary", "loss": "mse"}, "heads.y0", "binary_crossentropy"),
        ({"kind": "multiclass", "loss": "binary_crossentropy"}, "heads.y0", "categorical"),
        ({"metrics": ["accuracy"]}, "heads.y0", "mse, mae, rmse"),
        ({"kind": "binary", "metrics": ["rmse"]}, "heads.y0", "accuracy, auc"),
        ({"kind": "multiclass", "metrics": ["auc"]}, "heads.y0", "accuracy"),
        ({"metrics": ["mae", "mae"]}, "heads.y0", "twice"),
        ({"kind": "binary", "clean_target": "y"}, "heads.y0", "clean_target"),
        ({"positive_class": "yes"}, "heads.y0", "positive_class"),
    ],
)
def test_invalid_head(write, head, where, words) -> None:
    problems = problems_of(invalid(write({"heads": {"y0": head}})))
    assert where in problems
    assert words in problems[where]


def test_invalid_head_names(raw) -> None:
    for name in ("mae", "loss", "objective", "val", "2fast", "with-dash"):
        with pytest.raises(StudyError) as exc:
            Study.from_dict(dict(raw, heads={name: {"target": "y0"}}))
        assert "heads" in problems_of(exc), name


def test_head_names_differing_only_in_case(raw) -> None:
    with pytest.raises(StudyError, match="differ only in case"):
        Study.from_dict(dict(raw, heads={"y0": {}, "Y0": {"target": "y1"}}))


def test_head_names_whose_log_keys_collide(raw) -> None:
    # ``a``'s stop mae and ``val_a``'s training mae would both be logged as ``val_a_mae``.
    heads = {"a": {"target": "y0", "metrics": ["mae"]}, "val_a": {"target": "y1"}}
    heads["val_a"]["metrics"] = ["rmse"]
    Study.from_dict(dict(raw, heads=heads))  # no collision without val_a's mae
    heads["val_a"]["metrics"] = ["mae"]
    with pytest.raises(StudyError) as exc:
        Study.from_dict(dict(raw, heads=heads))
    message = problems_of(exc)["heads"]
    assert "'val_a_mae'" in message and "rename head val_a" in message


def test_at_least_one_head(raw) -> None:
    with pytest.raises(StudyError) as exc:
        Study.from_dict(dict(raw, heads={}))
    assert "heads" in problems_of(exc)


def test_unknown_tuner_and_strategy_list_valid_ones(write) -> None:
    problems = problems_of(invalid(write({"search": {"tuner": "grid", "strategies": ["joint"]}})))
    assert "random" in problems["search.tuner"] and "hyperband" in problems["search.tuner"]
    assert "weighted" in problems["search.strategies.0"]


def test_duplicate_strategy(write) -> None:
    problems = problems_of(invalid(write({"search": {"strategies": ["weighted", "weighted"]}})))
    assert "twice" in problems["search.strategies"]


def test_objective_head_must_exist(write) -> None:
    exc = invalid(write({"search": {"objective": {"kind": "head", "head": "nope"}}}))
    assert "search.objective.head 'nope' is not a head" in str(exc.value)
    assert "y0, y1, y2" in str(exc.value)
    assert len(exc.value.problems) == 1


def test_objective_kind_head_needs_a_head(write) -> None:
    problems = problems_of(invalid(write({"search": {"objective": {"kind": "head"}}})))
    assert "needs head" in problems["search.objective"]


def test_objective_metric_must_belong_to_the_head(write) -> None:
    objective = {"kind": "head", "head": "y0", "metric": "accuracy"}
    with pytest.raises(StudyError, match="not a metric of head 'y0'"):
        load_study(write({"search": {"objective": objective}}))


def test_objective_on_a_head_metric(write) -> None:
    objective = {"kind": "head", "head": "y0", "metric": "mae"}
    study = load_study(write({"search": {"objective": objective}}))
    assert study.search.objective.head == "y0"
    assert study.search.objective.direction == "min"


def test_objective_direction_follows_the_metric(raw) -> None:
    raw["heads"] = {"c": {"kind": "binary"}}
    raw["search"] = {"objective": {"kind": "head", "head": "c", "metric": "accuracy"}}
    assert Study.from_dict(raw).search.objective.direction == "max"


def test_objective_priorities(write) -> None:
    objective = {"kind": "priorities", "priorities": {"y0": 2.0, "y1": 1.0}, "mean": "arithmetic"}
    study = load_study(write({"search": {"objective": objective}}))
    assert study.search.objective.priorities == {"y0": 2.0, "y1": 1.0}
    bad = {"kind": "priorities", "priorities": {"zz": 1.0}}
    with pytest.raises(StudyError, match=r"unknown heads \['zz'\]"):
        load_study(write({"search": {"objective": bad}}))
    problems = problems_of(invalid(write({"search": {"objective": {"kind": "priorities"}}})))
    assert "needs priorities" in problems["search.objective"]


def test_file_source_needs_inputs_and_a_known_format(raw) -> None:
    with pytest.raises(StudyError, match="inputs is required"):
        Study.from_dict(dict(raw, data={"source": "rows.csv"}))
    with pytest.raises(StudyError, match=r"\.csv, \.parquet"):
        Study.from_dict(dict(raw, data={"source": "rows.xlsx", "inputs": ["x"]}))
    with pytest.raises(StudyError, match="unknown built-in"):
        Study.from_dict(dict(raw, data={"source": "builtin:cosine"}))
    with pytest.raises(StudyError, match="params is only allowed"):
        Study.from_dict(dict(raw, data={"source": "a.csv", "inputs": ["x"], "params": {}}))


def test_spread_is_refused_where_the_generator_would_ignore_it(raw) -> None:
    for name in ("phase_sine", "same_sine"):
        data = {"source": f"builtin:{name}", "params": {"spread": 30}}
        with pytest.raises(StudyError) as caught:
            Study.from_dict(dict(raw, data=data))
        message = str(caught.value)
        assert "data" in message and "params.spread is 30" in message
        assert f"builtin:{name} does not read it" in message and "remove params.spread" in message
    data = {"source": "builtin:hetero_sine", "params": {"spread": 30}}
    assert Study.from_dict(dict(raw, data=data)).data.params.spread == 30


def test_categorical_must_be_inputs(raw) -> None:
    data = {"source": "a.csv", "inputs": ["x"], "categorical": ["colour"]}
    with pytest.raises(StudyError, match="not inputs"):
        Study.from_dict(dict(raw, data=data))


def test_a_target_cannot_be_an_input(raw) -> None:
    raw = dict(raw, data={"source": "builtin:hetero_sine", "inputs": ["x", "y0"]})
    with pytest.raises(StudyError, match="also an input"):
        Study.from_dict(raw)


def test_data_source_resolves_against_the_study_folder(tmp_path, raw) -> None:
    folder = tmp_path / "deep"
    folder.mkdir()
    path = folder / "s.yaml"
    path.write_text(yaml.safe_dump(dict(raw, data={"source": "rows.csv", "inputs": ["x"]})))
    assert load_study(path).data_path() == (folder / "rows.csv").resolve()


# ---------------------------------------------------------------------------------------------
# YAML


def test_duplicate_yaml_keys_are_rejected(tmp_path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(
        "name: dup\ndata: {source: 'builtin:hetero_sine'}\nheads:\n  y0: {}\n  y0: {}\n"
    )
    exc = invalid(path)
    assert "duplicate" in str(exc.value)
    assert "'y0'" in str(exc.value)
    assert exc.value.problems[0].where == "line 5, column 3"


def test_duplicate_top_level_key(tmp_path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("name: a\nname: b\ndata: {source: 'builtin:hetero_sine'}\nheads: {y0: {}}\n")
    exc = invalid(path)
    assert "duplicate key 'name'" in str(exc.value)
    assert str(path) in str(exc.value)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: x\nseed: 1\n  bad: indent\n", "line 3, column 6"),
        ("name: bad\nheads: [unclosed\n", "line 3, column 1"),
    ],
)
def test_malformed_yaml_reports_line_and_column(tmp_path, text, where) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    exc = invalid(path)
    assert [p.where for p in exc.value.problems] == [where]
    assert "malformed YAML" in str(exc.value)
    assert where in str(exc.value)


def test_unhashable_yaml_key_is_a_study_error(tmp_path) -> None:
    path = tmp_path / "key.yaml"
    path.write_text("name: x\n[a, b]: 1\n")
    exc = invalid(path)  # not a TypeError from the duplicate-key check
    assert exc.value.problems


def test_yaml_merge_keys_are_supported(tmp_path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text(
        "name: merge\n"
        "data: {source: 'builtin:hetero_sine', params: {n: 100, tasks: 2}}\n"
        "heads:\n"
        "  y0: &head {kind: regression, clean_target: y, hidden: [8]}\n"
        "  y1: {<<: *head, target: y1}\n"
    )
    study = load_study(path)
    assert study.heads["y1"].hidden == [8] and study.heads["y1"].clean_target == "y"


def test_yaml_is_loaded_safely(tmp_path) -> None:
    path = tmp_path / "unsafe.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo hi']\n")
    assert "malformed YAML" in str(invalid(path).value)


def test_a_study_must_be_a_mapping(tmp_path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(StudyError, match="must be a YAML mapping"):
        load_study(path)
    path.write_text("")
    with pytest.raises(StudyError, match="must be a YAML mapping"):
        load_study(path)


def test_missing_study_file(tmp_path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(StudyError, match="does not exist") as exc:
        load_study(missing)
    assert str(missing) in str(exc.value)
    assert exc.value.source == str(missing)


def test_a_folder_is_not_a_study(tmp_path) -> None:
    with pytest.raises(StudyError):
        load_study(tmp_path)


def test_error_text_names_the_file(write) -> None:
    path = write({"search": {"max_trails": 3}})
    text = str(invalid(path).value)
    assert text.startswith(f"Invalid study ({path}):")
    assert "• search.max_trails: unknown key" in text


# ---------------------------------------------------------------------------------------------
# --set overrides


def test_overrides_apply_before_validation(write) -> None:
    path = write()
    study = load_study(
        path, ["search.max_trials=3", "heads.y0.hidden=[8]", "split.shuffle=false", "seed=11"]
    )
    assert study.search.max_trials == 3
    assert study.heads["y0"].hidden == [8]
    assert study.split.shuffle is False
    assert study.seed == 11
    assert load_study(path).heads["y0"].hidden == []  # the file itself is unchanged


def test_overrides_create_missing_sections(write) -> None:
    study = load_study(write(), ["search.objective.kind=head", "search.objective.head=y1"])
    assert study.search.objective.kind == "head"
    assert study.search.objective.head == "y1"


def test_override_values_are_yaml(write) -> None:
    overrides = ["search.learning_rate={min: 0.001, max: 0.002}", "name=renamed", "model.units=[4]"]
    study = load_study(write(), overrides)
    assert (study.search.learning_rate.min, study.search.learning_rate.max) == (0.001, 0.002)
    assert study.name == "renamed"
    assert study.model.units == [4]


def test_overrides_are_validated(write) -> None:
    problems = problems_of(invalid(write(), ["search.max_trials=-1"]))
    assert "search.max_trials" in problems
    problems = problems_of(invalid(write(), ["search.max_trails=3"]))
    assert "did you mean 'max_trials'" in problems["search.max_trails"]


def test_malformed_override(write) -> None:
    exc = invalid(write(), ["nokeyvalue"])
    assert [p.where for p in exc.value.problems] == ["--set"]
    assert "KEY=VALUE" in exc.value.problems[0].message
    assert "'nokeyvalue'" in str(exc.value)
    assert problems_of(invalid(write(), ["=3"])) == {"--set": "expected KEY=VALUE, got '=3'"}


def test_duplicate_keys_in_an_override_value_are_rejected(write) -> None:
    exc = invalid(write(), ["search.learning_rate={min: 0.001, min: 0.002, max: 0.01}"])
    assert "duplicate" in str(exc.value)


def test_override_through_a_scalar(write) -> None:
    exc = invalid(write(), ["name.sub=1"])
    assert "not a mapping" in str(exc.value)
    assert exc.value.problems[0].where == "--set name.sub"


# ---------------------------------------------------------------------------------------------
# resolved() and from_dict()


def test_resolved_round_trips(write) -> None:
    study = load_study(write({"heads": {"c": {"kind": "binary", "positive_class": "yes"}}}))
    resolved = study.resolved()
    assert resolved["heads"]["y2"]["target"] == "y2"
    assert resolved["heads"]["y2"]["loss"] == "mse"
    assert resolved["heads"]["c"]["loss"] == "binary_crossentropy"
    assert resolved["data"]["inputs"] == ["x"]
    again = Study.from_dict(resolved, base_dir=study.base_dir)
    assert again == study
    assert again.resolved() == resolved
    assert yaml.safe_load(yaml.safe_dump(resolved)) == resolved
    assert json.loads(json.dumps(resolved)) == resolved


def test_from_dict_reports_its_source(raw) -> None:
    with pytest.raises(StudyError) as exc:
        Study.from_dict(dict(raw, seed="x"), source="mine.yaml")
    assert exc.value.source == "mine.yaml"
    assert "mine.yaml" in str(exc.value)
    assert "seed" in problems_of(exc)


def test_from_dict_base_dir(tmp_path, raw) -> None:
    data = {"source": "t.parquet", "inputs": ["x"]}
    study = Study.from_dict(dict(raw, data=data), base_dir=tmp_path)
    assert study.data_path() == tmp_path.resolve() / "t.parquet"


# ---------------------------------------------------------------------------------------------
# Property-based: a mutated valid study gives a valid study or a StudyError, never a traceback.

RESOLVED = Study.from_dict(BASE).resolved()


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    return out


PATHS = _paths(RESOLVED)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.one_of(st.integers(-5, 200), st.text(max_size=4)), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(-3, 3), max_size=2),
)
MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["set", "delete", "add"]),
        st.sampled_from(PATHS),
        VALUES,
        st.text(min_size=1, max_size=8),
    ),
    min_size=1,
    max_size=4,
)


def mutate(raw: dict[str, Any], mutations: list[tuple]) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    for action, path, value, new_key in mutations:
        parent: Any = raw
        for key in path[:-1]:
            if not isinstance(parent, dict) or key not in parent:
                break
            parent = parent[key]
        else:
            if not isinstance(parent, dict):
                continue
            if action == "set":
                parent[path[-1]] = value
            elif action == "delete":
                parent.pop(path[-1], None)
            elif isinstance(parent.get(path[-1]), dict):
                parent[path[-1]][new_key] = value
    return raw


def assert_actionable(exc: StudyError) -> None:
    assert exc.problems
    assert all(isinstance(p, Problem) and p.message for p in exc.problems)
    assert str(exc).startswith("Invalid study")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MUTATIONS)
def test_mutated_studies_validate_or_fail_cleanly(mutations: list[tuple]) -> None:
    try:
        study = Study.from_dict(mutate(RESOLVED, mutations))
    except StudyError as exc:
        assert_actionable(exc)
    else:
        assert isinstance(study, Study)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_yaml_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        raw = parse_yaml(text)
        if isinstance(raw, dict):
            Study.from_dict(raw)
    except StudyError as exc:
        assert_actionable(exc)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(MUTATIONS)
def test_mutated_study_files_exit_0_or_2_through_the_cli(tmp_path: Path, mutations) -> None:
    path = tmp_path / "mutated.yaml"
    path.write_text(yaml.safe_dump(mutate(RESOLVED, mutations)))
    result = CliRunner().invoke(app, ["show", str(path)])
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert "Invalid study" in result.output


# ---------------------------------------------------------------------------------------------
# Issue 3: custom losses, class weights, losses that read other outputs


def test_custom_loss_resolves_beside_the_study(tmp_path) -> None:
    (tmp_path / "beside_losses.py").write_text("def l1(y_true, y_pred):\n    return y_true\n")
    raw = deep_update(TINY, {"heads": {"y0": {"loss": "beside_losses:l1"}}})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert load_study(path).heads["y0"].loss == "beside_losses:l1"


@pytest.mark.parametrize(
    ("loss", "words"),
    [
        ("no_such_module_xyz:f", "cannot import module 'no_such_module_xyz'"),
        ("json:no_such_function", "has no attribute 'no_such_function'"),
        ("json:__doc__", "is not a function"),
        ("not a path", "expected one of mse"),
    ],
)
def test_bad_custom_loss_names_the_key(write, loss, words) -> None:
    problems = problems_of(invalid(write({"heads": {"y0": {"loss": loss}}})))
    where = "heads.y0.loss" if ":" in loss else "heads.y0"
    assert words in problems[where]


def test_class_weights_need_a_weighted_loss(write) -> None:
    head = {"kind": "binary", "clean_target": None, "class_weights": "balanced"}
    problems = problems_of(invalid(write({"heads": {"y0": head}})))
    assert "weighted_binary_crossentropy" in problems["heads.y0"]
    study = load_study(
        write(
            {
                "heads": {
                    "y0": {
                        "kind": "binary",
                        "clean_target": None,
                        "loss": "weighted_binary_crossentropy",
                    }
                }
            }
        )
    )
    assert study.heads["y0"].class_weights == "balanced"


def test_gaussian_nll_adds_a_log_variance_output(write) -> None:
    study = load_study(write({"heads": {"y0": {"loss": "gaussian_nll"}}}))
    assert study.heads["y0"].uses == ["y0_logvar"]
    assert study.heads["y0"].loss_scale == "log"
    problems = problems_of(invalid(write({"heads": {"y0": {"uses": ["y1"]}}})))
    assert "already an output" in problems["heads"]
