"""Names a study gives that become Keras layer names and file names.

A head's name (and each extra output it ``uses``) names its output layer, its metric and log
keys, its hidden layers (``<head>_hidden_<j>``) and its plot file (``predictions_<head>.png``).
So each must be a plain identifier (checked on the whole string: no trailing newline), short
enough for a file name, and must not be a name mtltune already gives a layer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

#: A head or output name: a letter, then letters, digits and ``_``.
NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_]*"
#: Longest head or output name (it becomes a file name and layer names).
MAX_NAME_LENGTH = 64
#: Layer names of the study-built network's input and trunk.
_TRUNK_LAYER = re.compile(r"inputs|trunk_\d+|trunk_dropout_\d+", re.IGNORECASE)


def is_name(text: str) -> bool:
    """Whether ``text`` as a whole is a valid head or output name."""
    return re.fullmatch(NAME_PATTERN, text) is not None


def name_problems(outputs: Mapping[str, Sequence[int]]) -> list[str]:
    """What is wrong with the output names of a network (empty if nothing).

    Args:
        outputs: Each output name (heads and the extra outputs they use) with the sizes of
            its head's hidden layers (empty for an extra output).
    """
    problems = []
    for name in outputs:
        if not is_name(name):
            problems.append(
                f"{name!r} is not a name: start with a letter, then only letters, digits and _"
            )
        elif len(name) > MAX_NAME_LENGTH:
            problems.append(
                f"{name[:20]!r}… is {len(name)} characters long; at most {MAX_NAME_LENGTH} "
                "(it becomes layer and file names)"
            )
        elif _TRUNK_LAYER.fullmatch(name):
            problems.append(
                f"{name!r} is the name of a layer of the shared trunk (inputs, trunk_<i>, "
                "trunk_dropout_<i>); rename it"
            )
    taken = {name.lower(): name for name in outputs}
    for head, hidden in outputs.items():
        for j in range(len(hidden)):
            layer = f"{head}_hidden_{j}"
            if layer.lower() in taken:
                problems.append(
                    f"{taken[layer.lower()]!r} is the name of head {head!r}'s hidden layer "
                    f"{j}; rename it"
                )
    return problems
