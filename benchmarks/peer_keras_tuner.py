"""The peer: what a Keras user writes by hand for the hetero-sine study.

A Keras Tuner RandomSearch whose ``build`` compiles a five-output model with ``loss_weights``
drawn from the hyperparameters, plain ``model.fit`` with ``EarlyStopping(patience=5)`` on Keras'
(weighted) ``val_loss`` and the stop split as ``validation_data``, default batch settings. Only
the ranking is made fair: each trial returns the weight-free objective (geometric mean of the
per-head stop losses, best epoch) computed from the history, as mtltune ranks trials.

Run alone: python benchmarks/peer_keras_tuner.py --trials 8 --out /tmp/peer
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np

from mtltune import load_study, prepare_dataset

STUDY = Path(__file__).resolve().parents[1] / "studies" / "hetero_sine.yaml"


def build(hp: kt.HyperParameters, heads: list[str], input_dim: int) -> keras.Model:
    inputs = keras.Input((input_dim,))
    hidden = inputs
    for _ in range(10):
        hidden = keras.layers.Dense(100, activation="relu")(hidden)
    outputs = {h: keras.layers.Dense(1, name=h)(hidden) for h in heads}
    model = keras.Model(inputs, outputs)
    weights = {h: hp.Float(f"loss_weight_{h}", 0.01, 100.0, sampling="log") for h in heads}
    optimizer = keras.optimizers.Adam(
        learning_rate=hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"),
        epsilon=hp.Float("epsilon", 1e-7, 1e-2, sampling="log"),
    )
    model.compile(optimizer=optimizer, loss=dict.fromkeys(heads, "mse"), loss_weights=weights)
    return model


class PeerTuner(kt.RandomSearch):
    """Fits as a Keras user would; ranks on the weight-free objective from the history."""

    def __init__(self, heads: list[str], data, **kwargs) -> None:
        self.heads = heads
        self.data = data
        self.records: list[dict[str, float]] = []
        super().__init__(lambda hp: build(hp, heads, data.input_dim), **kwargs)

    def run_trial(self, trial, *args, **kwargs) -> dict[str, float]:
        model = self.hypermodel.build(trial.hyperparameters)
        record = fit_as_a_keras_user(model, self.data, self.heads)
        self.records.append(record)
        return {"objective": record["objective"]}


def fit_as_a_keras_user(model: keras.Model, data, heads: list[str]) -> dict[str, float]:
    """Plain ``fit`` with ``EarlyStopping(patience=5)``; the weight-free objective of the run."""
    start = time.perf_counter()
    history = model.fit(
        data.train.x,
        data.train.y,
        validation_data=(data.stop.x, data.stop.y),
        epochs=200,
        callbacks=[keras.callbacks.EarlyStopping(patience=5)],
        verbose=0,
    ).history
    seconds = time.perf_counter() - start
    per_epoch = [
        math.exp(np.mean([math.log(history[f"val_{h}_loss"][e]) for h in heads]))
        for e in range(len(history["val_loss"]))
    ]
    return {"seconds": seconds, "epochs": float(len(per_epoch)), "objective": min(per_epoch)}


def run_peer_on(configs: list[dict[str, float]], seed: int) -> list[dict[str, float]]:
    """Fit the peer's model once per given hyperparameter set (mtltune's trials, say)."""
    study = load_study(STUDY, [f"seed={seed}"])
    data = prepare_dataset(study)
    heads = list(study.heads)
    records = []
    for values in configs:
        keras.backend.clear_session()
        keras.utils.set_random_seed(study.seed)
        hp = kt.HyperParameters()
        for name in [f"loss_weight_{h}" for h in heads] + ["learning_rate", "epsilon"]:
            hp.Fixed(name, float(values[name]))
        records.append(fit_as_a_keras_user(build(hp, heads, data.input_dim), data, heads))
    return records


def run_peer(trials: int, out: Path, seed: int | None = None) -> list[dict[str, float]]:
    """Run the peer search on the hetero-sine study; one record per trial."""
    # The seed drives the data draw, the initialisation and the tuner, as mtltune's study seed.
    study = load_study(STUDY, [] if seed is None else [f"seed={seed}"])
    data = prepare_dataset(study)
    keras.utils.set_random_seed(study.seed)
    tuner = PeerTuner(
        list(study.heads),
        data,
        objective=kt.Objective("objective", "min"),
        max_trials=trials,
        seed=study.seed,
        directory=str(out),
        project_name="peer",
        overwrite=True,
    )
    tuner.search(verbose=0)
    return tuner.records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("/tmp/mtltune-peer"))
    args = parser.parse_args()
    for record in run_peer(args.trials, args.out):
        print(record)


if __name__ == "__main__":
    main()
