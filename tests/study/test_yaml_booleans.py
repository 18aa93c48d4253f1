"""A YAML 1.1 boolean (yes, no, on, off, true, false) where text is expected: quote it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtltune import load_study, prepare_dataset
from mtltune.errors import DataError, StudyError
from mtltune.study.yamlio import YAML_BOOLEANS, parse_yaml


def test_the_hint_names_exactly_what_yaml_reads_as_a_boolean() -> None:
    for value, words in YAML_BOOLEANS.items():
        for word in words:
            for spelling in (word, word.capitalize(), word.upper()):
                assert parse_yaml(f"a: {spelling}") == {"a": value}, spelling
    assert parse_yaml("a: [y, n]") == {"a": ["y", "n"]}  # YAML 1.1 booleans PyYAML keeps as text


BASE = """
seed: 3
data: {source: builtin:hetero_sine, params: {n: 300, tasks: 1}}
"""


@pytest.mark.parametrize(
    ("text", "where", "example"),
    [
        ("name: yes\nheads: {y0: {}}", "name", 'name: "yes"'),
        ("heads: {y0: {target: no}}", "heads.y0.target", 'target: "no"'),
        ("heads: {y0: {loss: off}}", "heads.y0.loss", 'loss: "no"'),
        ("heads: {y0: {}}\nsearch: {strategies: [on]}", "search.strategies.0", '["yes"]'),
        ("heads: {y0: {}}\nsearch: {objective: {kind: head, head: NO}}", "head", 'head: "no"'),
        ("heads: {y0: {clean_target: True}}", "heads.y0.clean_target", 'clean_target: "yes"'),
        ("heads: {y0: {}, yes: {}}", "heads", '"yes"'),
        ("heads: {y0: {kind: binary, class_weights: {off: 2}}}", "class_weights", '"no"'),
    ],
)
def test_a_boolean_where_text_is_expected_names_the_key_and_says_to_quote_it(
    tmp_path, text: str, where: str, example: str
) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(BASE + ("" if text.startswith("name:") else "name: b\n") + text + "\n")
    with pytest.raises(StudyError) as caught:
        load_study(path)
    problem = next(p for p in caught.value.problems if "boolean" in p.message)
    assert where in problem.where, caught.value
    assert "quote it" in problem.message and example in problem.message, problem.message


def test_a_boolean_set_on_the_command_line_gets_the_hint_too(tmp_path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(BASE + "name: b\nheads: {y0: {}}\n")
    with pytest.raises(
        StudyError, match=r'YAML reads an unquoted yes, on or true.*\(name: "yes"\)'
    ):
        load_study(path, ["name=true"])


def test_a_boolean_positive_class_among_text_labels_says_to_quote_it(tmp_path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "answer": rng.choice(["no", "yes"], 200)})
    frame.to_csv(tmp_path / "answers.csv", index=False)
    path = tmp_path / "study.yaml"
    path.write_text(
        "name: b\ndata: {source: answers.csv, inputs: [x]}\n"
        "heads: {answer: {kind: binary, positive_class: yes}}\n"
    )
    with pytest.raises(DataError) as caught:
        prepare_dataset(load_study(path))
    message = str(caught.value)
    assert "heads.answer.positive_class" in message and "got True" in message
    assert 'quote it to mean text (positive_class: "yes")' in message
    path.write_text(path.read_text().replace("positive_class: yes", 'positive_class: "yes"'))
    assert prepare_dataset(load_study(path)) is not None  # quoted, it is the label
