"""Users' own two-head Keras models and data, for the hypermodel, epoch-loop and training tests.

Output ``a`` is a regression head (``3·x₀``), output ``b`` a binary one (``x₁ > 0``); the
hidden width is the searched hyperparameter ``units`` (4 or 8; 4 when nothing sets it).
"""

from __future__ import annotations

import keras
import keras_tuner as kt
import numpy as np


def build(hp: kt.HyperParameters) -> keras.Model:
    """The network, with outputs named after the heads ``a`` and ``b``."""
    inputs = keras.Input((3,), name="features")
    hidden = keras.layers.Dense(hp.Int("units", 4, 8, step=4), activation="relu")(inputs)
    return keras.Model(
        inputs,
        {
            "a": keras.layers.Dense(1, name="a")(hidden),
            "b": keras.layers.Dense(1, activation="sigmoid", name="b")(hidden),
        },
    )


def data(n: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``n`` rows of inputs and targets, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, {"a": x[:, :1] * 3.0, "b": (x[:, 1:2] > 0).astype("float32")}


def two_head_net(seed: int = 0) -> keras.Model:
    """Regression outputs ``a`` and ``b`` on one 8-wide tanh trunk, initialised with ``seed``."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((2,))
    trunk = keras.layers.Dense(8, activation="tanh", name="trunk")(inputs)
    return keras.Model(
        inputs,
        {"a": keras.layers.Dense(1, name="a")(trunk), "b": keras.layers.Dense(1, name="b")(trunk)},
    )
