"""Pydantic errors as problems: key paths, unknown keys with suggestions, union fields."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from mtltune.study.messages import problems_from


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_trials: int = 1
    label: str | int | None = None


class Root(BaseModel):
    model_config = ConfigDict(extra="forbid")
    search: Inner = Inner()
    items: dict[str, Inner] = {}


def problems(raw: dict) -> dict[str, str]:
    with pytest.raises(ValidationError) as exc:
        Root.model_validate(raw)
    return {p.where: p.message for p in problems_from(exc.value, Root)}


def test_unknown_keys_suggest_and_list_allowed_ones() -> None:
    found = problems({"search": {"max_trails": 2}, "items": {"a": {"lable": 1}}})
    assert "did you mean 'max_trials'" in found["search.max_trails"]
    assert "expected one of max_trials, label" in found["search.max_trails"]
    assert "did you mean 'label'" in found["items.a.lable"]


def test_wrong_values_say_what_was_found() -> None:
    found = problems({"search": {"max_trials": "many"}})
    assert found["search.max_trials"].endswith(", got 'many'")


def test_union_fields_give_one_problem_at_the_key_path() -> None:
    found = problems({"search": {"label": [1]}})
    assert list(found) == ["search.label"]
    assert found["search.label"].startswith("expected a str or int")
