"""Reading YAML safely, and ``--set KEY=VALUE`` overrides.

The loader is PyYAML's safe loader (no object construction) that also rejects duplicate keys
instead of silently keeping the last one, and keys that are not names.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import yaml

from mtltune.errors import Problem, StudyError
from mtltune.study.limits import node_problem, quote


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    explicit = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
    loader.flatten_mapping(node)  # resolve YAML merge keys (<<: *anchor); merged pairs first
    mapping: dict[Any, Any] = {}
    written: set[Any] = set()  # keys written explicitly in this mapping
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"found a key that is a {type(key).__name__}, not a name",
                key_node.start_mark,
            )
        if id(key_node) not in explicit:  # a merged key: explicit ones override it
            mapping.setdefault(key, loader.construct_object(value_node, deep=True))
            continue
        if key in written:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r}: each key may appear once in a mapping",
                key_node.start_mark,
            )
        written.add(key)
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


#: What PyYAML (YAML 1.1) reads as a boolean when unquoted, in any of three cases (``Yes``,
#: ``YES``); YAML 1.1's ``y`` and ``n`` stay text in PyYAML.
YAML_BOOLEANS = {
    True: ("yes", "on", "true"),
    False: ("no", "off", "false"),
}


def yaml_boolean_hint(value: bool, key: str = "", *, item: bool = False) -> str:
    """Why a boolean landed where text is expected, and how to quote it.

    Args:
        value: The boolean YAML read.
        key: The key it was read for (its example is written with it), if any.
        item: Whether it is an item of the key's list (``inputs: ["yes"]``).

    Returns:
        A hint such as ``YAML reads an unquoted yes, on or true as a boolean: quote it to mean
        text (positive_class: "yes")``.
    """
    words = YAML_BOOLEANS[bool(value)]
    quoted = f'["{words[0]}"]' if item else f'"{words[0]}"'
    example = f"{key}: {quoted}" if key else quoted
    return (
        f"YAML reads an unquoted {', '.join(words[:-1])} or {words[-1]} as a boolean: quote it "
        f"to mean text ({example})"
    )


def parse_yaml(text: str, *, source: str = "<string>") -> Any:
    """Parse YAML safely (no object construction), rejecting duplicate keys.

    Raises:
        StudyError: With the line and column of the syntax error.
    """
    loader: _UniqueKeyLoader | None = None
    try:
        loader = _UniqueKeyLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        too_large = node_problem(node)
        if too_large is not None:
            where, why = too_large
            mark = where.start_mark
            raise StudyError(
                [Problem(f"line {mark.line + 1}, column {mark.column + 1}", why)], source=source
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise StudyError([Problem(where, f"malformed YAML: {problem}")], source=source) from None
    finally:
        if loader is not None:
            loader.dispose()


def apply_overrides(
    raw: dict[str, Any],
    overrides: Sequence[str],
    default_of: Callable[[Sequence[str]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Apply ``KEY=VALUE`` overrides (dotted keys, YAML values) to a parsed study.

    Args:
        raw: The parsed study; not modified.
        overrides: Strings such as ``search.max_trials=10`` or ``heads.y0.hidden=[8]``.
        default_of: The default of a section the study leaves out, by key path: a partial
            override (``search.learning_rate.max=0.05``) merges into it.

    Returns:
        A new mapping with the overrides applied.

    Raises:
        StudyError: When an override is not of the form KEY=VALUE or crosses a non-mapping.
    """
    result = copy.deepcopy(raw)
    problems: list[Problem] = []
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(Problem("--set", f"expected KEY=VALUE, got {quote(item)}"))
            continue
        try:
            value = parse_yaml(text, source="--set") if text.strip() else ""
        except StudyError as exc:
            if "duplicate key" in str(exc):
                problems.append(Problem(f"--set {key}", exc.problems[0].message))
                continue
            value = text  # not YAML: take the text as a string
        node: Any = result
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part) if isinstance(node, dict) else None
            if child is None:
                child = copy.deepcopy(default_of(parts[: depth + 1])) if default_of else {}
                node[part] = child
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                problems.append(
                    Problem(f"--set {key}", f"{where} is not a mapping, got {quote(child)}")
                )
                break
            node = child
        else:
            node[parts[-1]] = value
    if problems:
        raise StudyError(problems, source="command line")
    return result
