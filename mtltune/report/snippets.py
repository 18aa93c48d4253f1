"""Paste-ready code for the recommended configuration: Keras lines that train the same way.

``weighted``: one ``model.compile`` with the loss weights and Adam; ``separate``: one Adam per
head, each stepping on its own loss. Plain data in, Markdown lines out.
"""

from __future__ import annotations

from typing import Any


def compile_lines(plan: dict[str, Any]) -> list[str]:
    """The lines that train a Keras model the same way (``weighted`` and ``separate``)."""
    if plan.get("strategy") == "separate" and "learning_rates" in plan:
        return separate_lines(plan)
    if plan.get("strategy") != "weighted" or "loss_weights" not in plan:
        return []
    weights = ", ".join(f'"{h}": {w:.6g}' for h, w in plan["loss_weights"].items())
    return [
        "",
        "To train your own model this way (one Adam on the weighted sum of the head losses, "
        "each on its target scaled as in `preprocessing.json`):",
        "",
        "```python",
        "model.compile(",
        "    loss=...,  # each head's loss, as in the study",
        f"    loss_weights={{{weights}}},",
        f"    optimizer=keras.optimizers.Adam(learning_rate={plan['learning_rate']:.6g}, "
        f"epsilon={plan['epsilon']:.6g}),",
        ")",
        "```",
    ]


def separate_lines(plan: dict[str, Any]) -> list[str]:
    """For a ``separate`` plan: one Adam per head, each on its own loss."""
    optimizers = "\n".join(
        f'    "{h}": keras.optimizers.Adam(learning_rate={r:.6g}, epsilon={plan["epsilon"]:.6g}),'
        for h, r in plan["learning_rates"].items()
    )
    return [
        "",
        "To train your own model this way (one Adam per head, each stepping on its own loss "
        "only, with its own moments; the shared layers get every head's step):",
        "",
        "```python",
        "optimizers = {",
        optimizers,
        "}",
        "with tf.GradientTape(persistent=True) as tape:",
        "    outputs = model(x, training=True)",
        "    losses = {h: loss_fn[h](y[h], outputs[h]) for h in optimizers}",
        "for head, optimizer in optimizers.items():",
        "    variables = shared_variables + head_variables[head]",
        "    optimizer.apply_gradients(zip(tape.gradient(losses[head], variables), variables))",
        "```",
    ]
