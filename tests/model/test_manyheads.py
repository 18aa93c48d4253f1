"""Many heads: fused like heads, batched per-head gradients, a 50-head search end to end."""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
import yaml

import mtltune
from mtltune import HeadConfig, MultiTaskModel, separate_plan, weighted_plan
from mtltune.model import loop
from mtltune.model.gradients import per_head_gradients
from mtltune.model.network import build_network
from mtltune.model.strategies import single_optimizer_plan
from mtltune.study import ModelConfig

HEADS = {
    "a": HeadConfig(kind="regression", metrics=["mae"]),
    "b": HeadConfig(kind="binary"),
    "c": HeadConfig(kind="regression", loss="huber"),
    "d": HeadConfig(kind="regression", hidden=[4]),  # its own layer: not fused
    "e": HeadConfig(kind="binary", metrics=["accuracy"]),
    "f": HeadConfig(kind="regression", loss="huber"),
}


def toy(n: int = 120) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    x = np.random.default_rng(0).random((n, 2)).astype("float32")
    y = {
        "a": x[:, 0],
        "b": (x[:, 1] > 0.5).astype("float32"),
        "c": x[:, 0] * x[:, 1],
        "d": x.sum(1),
        "e": (x[:, 0] > 0.3).astype("float32"),
        "f": x[:, 1] - x[:, 0],
    }
    return x, y


def history(fuse: bool, plan, heads=HEADS) -> dict[str, list[float]]:
    keras.utils.set_random_seed(3)
    net = build_network(ModelConfig(units=[8, 8]), heads, 2, dict.fromkeys(heads, 1), fuse=fuse)
    model = MultiTaskModel(net, heads, plan)
    model.compile()
    x, y = toy()
    train = {k: v[:90] for k, v in y.items() if k in heads}
    stop = {k: v[90:] for k, v in y.items() if k in heads}
    return loop.fit(model, x[:90], train, (x[90:], stop), epochs=3, batch_size=16)


def test_like_heads_share_one_output_layer_with_the_per_head_initial_weights() -> None:
    keras.utils.set_random_seed(3)
    plain = build_network(ModelConfig(units=[8]), HEADS, 2, dict.fromkeys(HEADS, 1), fuse=False)
    keras.utils.set_random_seed(3)
    fused = build_network(ModelConfig(units=[8]), HEADS, 2, dict.fromkeys(HEADS, 1))
    groups = [layer.heads for layer in fused.layers if hasattr(layer, "heads")]
    assert sorted(map(tuple, groups)) == [("b", "e"), ("c", "f")]  # "a" alone, "d" has a layer
    x, _ = toy(5)
    for head, value in plain(x).items():
        np.testing.assert_allclose(fused(x)[head], value, rtol=1e-5, atol=1e-6)


def test_fused_heads_train_as_per_head_layers_under_both_strategies() -> None:
    plans = [
        weighted_plan(list(HEADS), learning_rate=1e-2, epsilon=1e-3, weights={"b": 3.0}),
        separate_plan({h: 1e-2 * (i + 1) for i, h in enumerate(HEADS)}, epsilon=1e-3),
    ]
    for plan in plans:
        plain, fused = history(False, plan), history(True, plan)
        assert plain.keys() == fused.keys()
        assert {"loss_a", "val_loss_f", "val_a_mae", "val_e_accuracy"} <= fused.keys()
        for key, values in plain.items():
            np.testing.assert_allclose(fused[key], values, rtol=2e-5, atol=1e-6, err_msg=key)


def test_methods_on_one_fused_group_see_the_trunk_as_shared_not_the_heads_layer() -> None:
    # Every head in one fused group: the group's output layer is reached by every head, yet it
    # is the heads' own layers, not the trunk. GradNorm's "last shared layer" and PCGrad's
    # projected variables are the trunk's, as with one Dense(1) per head.
    heads = {h: HeadConfig(kind="regression") for h in ("a", "c", "f")}
    for name in ("gradnorm", "pcgrad"):
        plan = single_optimizer_plan(name, learning_rate=1e-2, epsilon=1e-3)
        plain, fused = history(False, plan, heads), history(True, plan, heads)
        assert plain.keys() == fused.keys()
        for key, values in plain.items():
            np.testing.assert_allclose(fused[key], values, rtol=2e-5, atol=1e-6, err_msg=key)


def test_per_head_gradients_are_each_heads_own_backward_pass() -> None:
    keras.utils.set_random_seed(1)
    net = build_network(ModelConfig(units=[8, 8]), HEADS, 2, dict.fromkeys(HEADS, 1))
    model = MultiTaskModel(net, HEADS, weighted_plan(list(HEADS), learning_rate=1e-3, epsilon=1e-3))
    x, y = toy(16)
    variables = model.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        stacked, _ = model.forward(tf.constant(x), y, training=True)
        each = tf.unstack(stacked)
    for vectorized in (False, True):
        batched = per_head_gradients(tape, stacked, variables, vectorized=vectorized)
        for k, loss in enumerate(each):
            grads = tape.gradient(loss, variables)
            for variable, rows, grad in zip(variables, batched, grads, strict=True):
                expected = np.zeros(variable.shape) if grad is None else grad.numpy()
                assert rows.shape == (len(HEADS), *variable.shape)
                np.testing.assert_allclose(rows[k], expected, rtol=1e-5, atol=1e-7)


def test_fifty_heads_train_report_and_predict(tmp_path) -> None:
    heads = {f"y{i}": {"kind": "regression", "scale": "none"} for i in range(50)}
    raw = {
        "name": "fifty",
        "seed": 2,
        "data": {"source": "builtin:hetero_sine", "params": {"n": 200, "tasks": 50, "spread": 30}},
        "split": {"train": 0.5, "stop": 0.25, "test": 0.25, "shuffle": True},
        "heads": heads,
        "model": {"units": [8]},
        "training": {"max_epochs": 2, "batch_size": 32, "patience": 2},
        "search": {
            "tuner": "random",
            "max_trials": 1,
            "strategies": ["weighted"],
            "confirm": {"top": 0},
        },
        "report": {"plots": False},
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    run_dir = tmp_path / "run"
    result = mtltune.run_study(mtltune.load_study(path), run_dir, report=True)
    assert all(t.ok for t in result.trials)
    report = json.loads((run_dir / "report.json").read_text())
    role = "baseline" if report["verdict"]["recommended"] == "baseline" else "best"
    assert sorted(report[role]["test"]) == sorted(heads)
    rows = pd.DataFrame({"x": np.linspace(0.0, 1.0, 7)})
    predicted = mtltune.load_run(run_dir).predict(rows)
    assert list(predicted.table.columns) == list(heads)
    assert np.isfinite(predicted.table.to_numpy()).all()
