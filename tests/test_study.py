"""The study schema: bundled studies validate, defaults fill in, errors name their key path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mtltune import Study, StudyError, load_study

STUDIES = sorted((Path(__file__).resolve().parents[1] / "studies").glob("*.yaml"))


def problems_of(exc: pytest.ExceptionInfo[StudyError]) -> dict[str, str]:
    return {p.where: p.message for p in exc.value.problems}


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_every_bundled_study_validates(path: Path) -> None:
    study = load_study(path)
    assert study.name == path.stem
    assert study.heads


def test_bundled_studies_exist() -> None:
    assert {p.stem for p in STUDIES} >= {"hetero_sine", "phase_sine", "reg_class"}


def test_defaults_are_filled_in(tiny_raw) -> None:
    tiny_raw["heads"] = {
        "y0": {},
        "y1": {"kind": "binary"},
        "y2": {"kind": "multiclass", "target": "y2"},
    }
    study = Study.from_dict(tiny_raw)
    assert study.heads["y0"].loss == "mse" and study.heads["y0"].metrics == ["mae", "rmse"]
    assert study.heads["y1"].loss == "binary_crossentropy"
    assert study.heads["y1"].metrics == ["accuracy", "auc"]
    assert study.heads["y2"].loss == "categorical_crossentropy"
    assert study.heads["y0"].target == "y0"  # the head name by default
    assert study.search.strategies == ["weighted", "separate"]
    assert study.search.objective.kind == "geometric_mean"
    assert study.data.inputs == ["x"]  # built-in default


def test_unknown_key_names_its_path_and_suggests(write_study) -> None:
    with pytest.raises(StudyError) as exc:
        load_study(write_study({"search": {"max_trails": 3}}))
    problems = problems_of(exc)
    assert "search.max_trails" in problems
    assert "did you mean 'max_trials'" in problems["search.max_trails"]
    assert "search.max_trails" in str(exc.value)


def test_unknown_key_inside_a_head(write_study) -> None:
    with pytest.raises(StudyError) as exc:
        load_study(write_study({"heads": {"y0": {"lossy": "mse"}}}))
    problems = problems_of(exc)
    assert "heads.y0.lossy" in problems
    assert "'loss'" in problems["heads.y0.lossy"]


def test_wrong_type_names_the_path_and_value(write_study) -> None:
    with pytest.raises(StudyError) as exc:
        load_study(write_study({"training": {"batch_size": "big"}}))
    problems = problems_of(exc)
    assert "training.batch_size" in problems
    assert "'big'" in problems["training.batch_size"]


def test_split_must_sum_to_one(write_study) -> None:
    with pytest.raises(StudyError) as exc:
        load_study(write_study({"split": {"train": 0.5, "stop": 0.3, "test": 0.3}}))
    assert "split" in problems_of(exc)
    assert "must be 1" in str(exc.value)


def test_log_range_min_above_max(write_study) -> None:
    with pytest.raises(StudyError) as exc:
        load_study(write_study({"search": {"learning_rate": {"min": 0.1, "max": 0.01}}}))
    assert "search.learning_rate" in problems_of(exc)


def test_non_positive_log_bound(write_study) -> None:
    with pytest.raises(StudyError) as exc:
        load_study(write_study({"search": {"epsilon": {"min": 0, "max": 0.01}}}))
    assert "search.epsilon.min" in problems_of(exc)


@pytest.mark.parametrize(
    ("head", "path", "words"),
    [
        ({"kind": "ordinal"}, "heads.y0.kind", "regression"),
        ({"loss": "binary_crossentropy"}, "heads.y0", "mse, mae, huber"),
        ({"metrics": ["accuracy"]}, "heads.y0", "mse, mae, rmse"),
        ({"kind": "binary", "clean_target": "y"}, "heads.y0", "clean_target"),
    ],
)
def test_invalid_head(write_study, head, path, words) -> None:
    with pytest.raises(StudyError) as exc:
        load_study(write_study({"heads": {"y0": head}}))
    problems = problems_of(exc)
    assert path in problems
    assert words in problems[path]


def test_unknown_tuner_and_strategy_list_valid_ones(write_study) -> None:
    with pytest.raises(StudyError) as exc:
        load_study(write_study({"search": {"tuner": "grid", "strategies": ["joint"]}}))
    problems = problems_of(exc)
    assert "random" in problems["search.tuner"] and "hyperband" in problems["search.tuner"]
    assert "weighted" in problems["search.strategies.0"]


def test_objective_head_must_exist(write_study) -> None:
    with pytest.raises(StudyError, match="'nope' is not a head"):
        load_study(write_study({"search": {"objective": {"kind": "head", "head": "nope"}}}))


def test_objective_metric_must_belong_to_the_head(write_study) -> None:
    objective = {"kind": "head", "head": "y0", "metric": "accuracy"}
    with pytest.raises(StudyError, match="not a metric of head 'y0'"):
        load_study(write_study({"search": {"objective": objective}}))


def test_reserved_and_invalid_head_names(write_study, tiny_raw) -> None:
    for name in ("mae", "2fast", "with-dash"):
        raw = dict(tiny_raw, heads={name: {"target": "y0"}})
        with pytest.raises(StudyError) as exc:
            Study.from_dict(raw)
        assert "heads" in problems_of(exc)


def test_duplicate_yaml_keys_are_rejected(tmp_path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(
        "name: dup\ndata: {source: 'builtin:hetero_sine'}\nheads:\n  y0: {}\n  y0: {}\n"
    )
    with pytest.raises(StudyError, match="duplicate key 'y0'"):
        load_study(path)


def test_malformed_yaml_reports_line_and_column(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nheads: [unclosed\n")
    with pytest.raises(StudyError) as exc:
        load_study(path)
    where = exc.value.problems[0].where
    assert where.startswith("line ")
    assert "malformed YAML" in str(exc.value)


def test_a_study_must_be_a_mapping(tmp_path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(StudyError, match="must be a YAML mapping"):
        load_study(path)


def test_missing_study_file(tmp_path) -> None:
    with pytest.raises(StudyError, match="does not exist"):
        load_study(tmp_path / "nowhere.yaml")


def test_overrides_apply_before_validation(write_study) -> None:
    study = load_study(
        write_study(), ["search.max_trials=3", "heads.y0.hidden=[8]", "split.shuffle=false"]
    )
    assert study.search.max_trials == 3
    assert study.heads["y0"].hidden == [8]
    assert study.split.shuffle is False


def test_bad_overrides(write_study) -> None:
    with pytest.raises(StudyError) as exc:
        load_study(write_study(), ["nokeyvalue"])
    assert "--set" in problems_of(exc)
    with pytest.raises(StudyError) as exc:
        load_study(write_study(), ["name.sub=1"])
    assert "not a mapping" in str(exc.value)
    with pytest.raises(StudyError) as exc:
        load_study(write_study(), ["search.max_trials=-1"])
    assert "search.max_trials" in problems_of(exc)


def test_resolved_round_trips(tiny_study) -> None:
    again = Study.from_dict(tiny_study.resolved(), base_dir=tiny_study.base_dir)
    assert again == tiny_study
    assert yaml.safe_load(yaml.safe_dump(tiny_study.resolved())) == tiny_study.resolved()


def test_data_source_resolves_against_the_study_folder(tmp_path, tiny_raw) -> None:
    folder = tmp_path / "deep"
    folder.mkdir()
    raw = dict(tiny_raw, data={"source": "rows.csv", "inputs": ["x"]})
    path = folder / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert load_study(path).data_path() == (folder / "rows.csv").resolve()


def test_file_source_needs_inputs_and_a_known_format(tiny_raw) -> None:
    with pytest.raises(StudyError, match="inputs is required"):
        Study.from_dict(dict(tiny_raw, data={"source": "rows.csv"}))
    with pytest.raises(StudyError, match=r"\.csv, \.parquet"):
        Study.from_dict(dict(tiny_raw, data={"source": "rows.xlsx", "inputs": ["x"]}))
    with pytest.raises(StudyError, match="unknown built-in"):
        Study.from_dict(dict(tiny_raw, data={"source": "builtin:cosine"}))


def test_a_target_cannot_be_an_input(tiny_raw) -> None:
    raw = dict(tiny_raw, data={"source": "builtin:hetero_sine", "inputs": ["x", "y0"]})
    with pytest.raises(StudyError, match="also an input"):
        Study.from_dict(raw)
