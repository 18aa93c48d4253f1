"""Turning pydantic validation errors into ``Problem``s a user can act on.

Each problem names the dotted key path; an unknown key lists the allowed ones with a "did you
mean" for near misses; a wrong value says what was found.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from mtltune.errors import Problem
from mtltune.study.limits import quote, shorten
from mtltune.study.yamlio import yaml_boolean_hint


def problems_from(exc: ValidationError, root: type[BaseModel]) -> list[Problem]:
    """One ``Problem`` per invalid key of a mapping validated against ``root``."""
    problems: dict[str, Problem] = {}
    unions: dict[str, tuple[list[str], Any]] = {}
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        if loc and loc[-1] in _UNION_TAGS and not _allowed_keys(root, loc[:-1]):
            # A union field ("str | int | bool"): pydantic reports one error per member.
            where = ".".join(str(part) for part in loc[:-1])
            unions.setdefault(where, ([], error.get("input")))[0].append(str(loc[-1]))
            problems.setdefault(where, Problem(where, ""))
            continue
        if loc and loc[-1] == "[key]" and isinstance(error.get("input"), bool):
            parent = loc[:-3] if len(loc) > 2 and loc[-3] in _UNION_TAGS else loc[:-2]
            where = ".".join(str(part) for part in parent)
            found = error["input"]
            problems[where] = Problem(
                where, f"a key is the boolean {found}; {yaml_boolean_hint(found)}"
            )
            continue
        where = ".".join(str(part) for part in loc)
        if error["type"] == "extra_forbidden":
            problems[where] = Problem(where, _unknown_key_message(root, loc))
            continue
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] != "missing" and not isinstance(error.get("input"), dict | None):
            message += f", got {quote(error['input'])}"
        message = shorten(message)
        if isinstance(error.get("input"), bool) and error["type"] in _TEXT_EXPECTED:
            item = bool(loc) and isinstance(loc[-1], int)
            message += f"; {yaml_boolean_hint(error['input'], _key(loc), item=item)}"
        problems[where] = Problem(where, message)
    for where, (members, found) in unions.items():
        message = f"expected a {' or '.join(members)}, got {quote(found)}"
        if isinstance(found, bool) and "str" in members:
            message += f"; {yaml_boolean_hint(found, where.rsplit('.', 1)[-1])}"
        problems[where] = Problem(where, message)
    return list(problems.values())


#: Pydantic error types of a value that should have been text (a string or one of some words).
_TEXT_EXPECTED = frozenset({"string_type", "literal_error", "enum", "string_pattern_mismatch"})


def _key(loc: tuple[Any, ...]) -> str:
    """The key a value was read for: the last name in its location (not a list index)."""
    return next((str(part) for part in reversed(loc) if isinstance(part, str)), "")


#: Member labels pydantic appends to the location of an error in a union field.
_UNION_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def _unknown_key_message(root: type[BaseModel], loc: tuple[Any, ...]) -> str:
    allowed = _allowed_keys(root, loc[:-1])
    key = str(loc[-1])
    message = f"unknown key {key!r}"
    if allowed:
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        message += f"; expected one of {', '.join(allowed)}"
    return message


def _allowed_keys(root: type[BaseModel], parent: tuple[Any, ...]) -> list[str]:
    """Field names allowed at a location, found by walking the schema from ``root``."""
    annotation: Any = root
    for part in parent:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return []
            annotation = field.annotation
        elif typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def section_default(root: type[BaseModel], keys: Sequence[str]) -> dict[str, Any]:
    """The default of the section at a dotted key path, as plain data (``{}`` if none).

    ``--set search.learning_rate.max=0.05`` on a study that leaves ``search.learning_rate`` at
    its default merges into that default instead of replacing it by ``{max: 0.05}``.
    """
    model: Any = root
    default: Any = None
    for key in keys:
        model = _unwrap(model)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return {}
        field = model.model_fields.get(str(key))
        if field is None:
            return {}
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        model = field.annotation
    if isinstance(default, BaseModel):
        return default.model_dump(mode="json")
    return {}


def _unwrap(annotation: Any) -> Any:
    """Strip ``X | None`` down to ``X``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation
