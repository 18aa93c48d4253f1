"""The study-built network: trunk, head branches, named dict outputs."""

from __future__ import annotations

import numpy as np

from mtltune import HeadConfig
from mtltune.model.network import build_network
from mtltune.study import ModelConfig


def test_network_has_a_trunk_and_named_heads() -> None:
    heads = {"price": HeadConfig(hidden=[4]), "kind": HeadConfig(kind="multiclass")}
    net = build_network(ModelConfig(units=[8, 6], dropout=0.2), heads, 5, {"price": 1, "kind": 3})
    out = net(np.zeros((2, 5), dtype="float32"))
    assert set(out) == {"price", "kind"}
    assert out["price"].shape == (2, 1)
    assert out["kind"].shape == (2, 3)
    np.testing.assert_allclose(np.sum(out["kind"], axis=1), 1.0, rtol=1e-5)
    names = [layer.name for layer in net.layers]
    assert {"trunk_0", "trunk_1", "trunk_dropout_0", "price_hidden_0"} <= set(names)
    assert net.get_layer("trunk_1").units == 6
