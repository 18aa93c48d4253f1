"""Safe YAML with duplicate-key and key-type checks; --set overrides."""

from __future__ import annotations

import pytest

from mtltune import StudyError
from mtltune.study.yamlio import apply_overrides, parse_yaml


def test_duplicate_keys_are_errors_with_their_line() -> None:
    with pytest.raises(StudyError) as exc:
        parse_yaml("a: 1\nb: 2\na: 3\n")
    assert "duplicate key 'a'" in str(exc.value)
    assert exc.value.problems[0].where == "line 3, column 1"


def test_merge_keys_and_anchors_work() -> None:
    assert parse_yaml("base: &b {x: 1, y: 2}\nother: {<<: *b, y: 3}\n")["other"] == {
        "x": 1,
        "y": 3,
    }


def test_keys_must_be_names_and_objects_are_not_built() -> None:
    with pytest.raises(StudyError, match="not a name"):
        parse_yaml("[a, b]: 1\n")
    with pytest.raises(StudyError, match="malformed YAML"):
        parse_yaml("x: !!python/object/apply:os.system ['true']\n")


def test_overrides_set_nested_values_without_touching_the_input() -> None:
    raw = {"search": {"max_trials": 3}}
    out = apply_overrides(raw, ["search.max_trials=10", "heads.a.hidden=[4, 2]", "name=x"])
    assert out == {"search": {"max_trials": 10}, "heads": {"a": {"hidden": [4, 2]}}, "name": "x"}
    assert raw == {"search": {"max_trials": 3}}


def test_bad_overrides_are_reported_together() -> None:
    with pytest.raises(StudyError) as exc:
        apply_overrides({"name": "x"}, ["oops", "name.sub=1", "a={b: 1, b: 2}"])
    wheres = [p.where for p in exc.value.problems]
    assert wheres == ["--set", "--set name.sub", "--set a"]
