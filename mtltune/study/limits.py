"""What a study may be: its file's size, its YAML's expanded size, and readable quotes.

A study is a small file. These limits keep a hostile or mistaken one (a ``billion laughs`` of
nested aliases, a list of millions of items, a 50 MB file) from hanging ``validate`` or
exhausting memory, and ``quote`` keeps every value a message repeats to a readable length.
"""

from __future__ import annotations

from typing import Any

import yaml

#: Largest study file read, in bytes.
MAX_STUDY_BYTES = 1_000_000
#: Most items in one YAML list or mapping.
MAX_COLLECTION_ITEMS = 10_000
#: Most values in the whole study once every alias is expanded.
MAX_EXPANDED_NODES = 100_000
#: Longest quote of a value in a message, in characters.
MAX_QUOTE = 80


def quote(value: Any, limit: int = MAX_QUOTE) -> str:
    """``repr(value)`` cut to ``limit`` characters (with the full length said when cut)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text):,} characters)"


def shorten(text: str, limit: int = 400) -> str:
    """``text`` cut to ``limit`` characters (a message that quotes a long value)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def size_problem(size: int) -> str | None:
    """Why a study file of ``size`` bytes is refused, or ``None``."""
    if size <= MAX_STUDY_BYTES:
        return None
    return (
        f"the study file is {size:,} bytes; a study may be at most {MAX_STUDY_BYTES:,} bytes "
        "(put data in the data file, not in the study)"
    )


def node_problem(root: yaml.Node) -> tuple[yaml.Node, str] | None:
    """The first node that makes a composed YAML document too large, and why.

    Every alias counts as often as it is used, so nested aliases are measured by what they
    expand to, without expanding them (each distinct node is visited once).
    """
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if not children_done and id(node) in visiting:
            return node, "this value contains itself (a recursive alias)"
        visiting.add(id(node))
        children = _children(node)
        if len(children) > MAX_COLLECTION_ITEMS:
            return node, (
                f"a list or mapping of {len(children):,} items; a study allows at most "
                f"{MAX_COLLECTION_ITEMS:,}"
            )
        if not children_done:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        total = 1 + sum(sizes.get(id(c), 1) for c in children)
        if total > MAX_EXPANDED_NODES:
            return node, (
                f"this value expands to more than {MAX_EXPANDED_NODES:,} values (aliases "
                "count each time they are used); a study is far smaller"
            )
        sizes[id(node)] = total
        visiting.discard(id(node))
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
