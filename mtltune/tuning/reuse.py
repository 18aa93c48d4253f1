"""Model reuse across trials: the pool of idle models and architecture hashing.

A Keras Tuner search builds, trains and drops one model per trial. Building a new model costs
its tracing (seconds) and leaks memory in Keras and TensorFlow; ``ModelPool`` keeps the models
whose training ended, keyed by strategy and network signature, so the next build of the same
strategy and architecture recycles one (``MultiTaskModel.recycle``: fresh initial weights and
optimizer state, the traced steps kept). Used by ``MultiTaskHyperModel.recycling``.
"""

from __future__ import annotations

import json
from typing import Any

import keras

from mtltune.model.multitask import MultiTaskModel
from mtltune.model.strategies import TrainPlan
from mtltune.run.heap import freeze_survivors
from mtltune.study import Study
from mtltune.study.catalog import is_custom_loss

#: At most this many idle models are kept for recycling (one per strategy and architecture).
POOL_SIZE = 8


class ModelPool:
    """Idle models by (strategy, network signature), live only while ``active``."""

    def __init__(self) -> None:
        #: Whether models are recycled now (inside ``MultiTaskHyperModel.recycling``).
        self.active = False
        self._idle: dict[tuple[Any, ...], MultiTaskModel] = {}

    def key(
        self, plan: TrainPlan, net: keras.Model, traced_with: tuple[Any, ...] = ()
    ) -> tuple[Any, ...] | None:
        """The pool key of a new network for ``plan`` (``None`` outside the block).

        Args:
            plan: The new model's plan (its strategy must match).
            net: The new network (its architecture must match).
            traced_with: Anything else a model's traced steps depend on (the target scales).
        """
        # The signature (a config walk) is only needed where models can be recycled.
        return (plan.strategy, signature(net), traced_with) if self.active else None

    def take(self, key: tuple[Any, ...] | None) -> MultiTaskModel | None:
        """An idle model for ``key``, removed from the pool, or ``None``."""
        return self._idle.pop(key, None) if key is not None else None

    def release(self, model: MultiTaskModel) -> None:
        """Offer a model whose training ended for recycling (while ``active`` only)."""
        key = model.pool_key
        if not self.active or key is None:
            return
        self._idle.pop(key, None)
        self._idle[key] = model
        while len(self._idle) > POOL_SIZE:
            self._idle.pop(next(iter(self._idle)))
        if not model.released:
            model.released = True
            # A new model's traced graphs live as long as the block: move them out of the
            # garbage collector's sight too (``frozen_heap``, which the block holds).
            freeze_survivors()

    def clear(self) -> None:
        """Drop every idle model (the block ended)."""
        self._idle.clear()


def signature(net: keras.Model) -> tuple[Any, ...]:
    """What a recycled model must share with a new network: architecture, variables, outputs.

    The architecture is the network's config with every layer name replaced by the layer's
    position (names do not change what a network computes, and without Keras'
    ``clear_session`` every build numbers them anew), so an activation or a dropout rate that
    differs keeps two networks apart even when their variables have the same shapes. A network
    without a config (a subclassed model) is never recycled.
    """
    variables = tuple((tuple(v.shape), str(v.dtype)) for v in net.variables)
    outputs = tuple(getattr(net, "output_names", None) or ())
    try:
        config = net.get_config()
    except NotImplementedError:
        return (id(net),)
    layers = config.get("layers") if isinstance(config, dict) else None
    if not isinstance(layers, list):
        return (id(net),)
    names = {str(layer.get("name")): f"#{i}" for i, layer in enumerate(layers)}
    names[str(config.get("name"))] = "#net"

    def normalise(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: normalise(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [normalise(v) for v in value]
        if isinstance(value, str):
            return names.get(value, value)
        return value

    architecture = json.dumps(normalise(config), sort_keys=True, default=repr)
    return (type(net).__name__, outputs, variables, architecture)


def stateless_study(study: Study) -> bool:
    """Whether a study's models draw random numbers only through Keras' stateless generators.

    mtltune's networks are Keras layers only (Dense, Dropout with a ``SeedGenerator``); a user's
    loss function might draw from TensorFlow's stateful random ops.
    """
    return not any(is_custom_loss(str(h.loss)) for h in study.heads.values())
