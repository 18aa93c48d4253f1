"""Names a study gives that become Keras layer names, log keys and file names.

A head's name (and each extra output it ``uses``) names its output layer, its metric and log
keys, its hidden layers (``<head>_hidden_<j>``) and its plot file (``predictions_<head>.png``).
So each must be a plain identifier (checked on the whole string: no trailing newline), short
enough for a file name, and must not be a name mtltune already gives a layer. The log keys are
made here (``head_loss_key``, ``stop_key`` ...) and nowhere else (``tests/test_architecture.py``
bans their spellings outside this module), so that no two heads can write the same key: heads
``a`` and ``val_a`` with metric ``mae`` would both log ``val_a_mae`` (``a``'s on the stop
split, ``val_a``'s on the training split), one overwriting the other.
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


#: Prefix of a log key measured on the stop split (Keras' ``validation_data`` prefix).
STOP_PREFIX = "val_"
#: Log key of the weight-free trial score (``mtltune.model.objectives``).
OBJECTIVE = "objective"
#: Log key trials are ranked and early-stopped on: the score on the stop split.
MONITOR = STOP_PREFIX + OBJECTIVE
#: Prefix of the log keys of the learned weights (``uncertainty`` strategy).
LEARNED_WEIGHT_PREFIX = "learned_weight_"
#: Log keys of the whole model (the weighted total loss and the trial score).
_MODEL_KEYS = ("loss", OBJECTIVE)


def stop_key(key: str) -> str:
    """The log key of ``key`` measured on the stop split."""
    return STOP_PREFIX + key


def head_loss_key(head: str) -> str:
    """Log key of a head's unweighted mean loss (not Keras' own ``<output>_loss``)."""
    return f"loss_{head}"


def learned_weight_key(head: str) -> str:
    """Log key of a head's learned or dynamic weight (``uncertainty``, ``dwa``, ...)."""
    return LEARNED_WEIGHT_PREFIX + head


def head_metric_key(head: str, metric: str) -> str:
    """Log key of a head's metric."""
    return head_loss_key(head) if metric == "loss" else f"{head}_{metric}"


def log_key_problems(metrics: Mapping[str, Sequence[str]]) -> list[str]:
    """Heads whose log keys would collide, on either split (empty if none).

    Args:
        metrics: Each head with the names of its metrics.
    """
    owners: dict[str, tuple[str | None, str]] = {}
    for prefix, split in (("", "training"), (STOP_PREFIX, "stop")):
        owners.update({prefix + key: (None, f"the model's {split} {key}") for key in _MODEL_KEYS})
    problems = []
    for head, names in metrics.items():
        own = {head_loss_key(head): "loss", learned_weight_key(head): "learned weight"}
        own.update({head_metric_key(head, m): m for m in names})
        for prefix, split in (("", "training"), (STOP_PREFIX, "stop")):
            for key, what in own.items():
                owner, other = owners.setdefault(prefix + key, (head, f"{split} {what}"))
                if owner != head:
                    first = f"head {owner}'s {other}" if owner else other
                    problems.append(
                        f"head {head}'s {split} {what} and {first} would both be logged as "
                        f"{prefix + key!r}; rename head {head}"
                    )
    return problems


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
