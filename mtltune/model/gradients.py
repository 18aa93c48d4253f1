"""Per-head gradients: the gradient of each head's loss with respect to given variables.

``gradnorm`` (at the last shared layer) and ``pcgrad`` (over the trunk) need each head's
gradient separately, where the other strategies need one gradient of a sum. This is the one
place that computes them, so a cheaper way (a batched Jacobian, say) replaces this function
alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf


def per_head_gradients(
    tape: tf.GradientTape, losses: Sequence[tf.Tensor], variables: Sequence[Any]
) -> list[list[tf.Tensor | None]]:
    """One backward pass per head through a persistent tape.

    Args:
        tape: A persistent ``tf.GradientTape`` that recorded the losses.
        losses: One scalar loss per head.
        variables: The variables to differentiate with respect to.

    Returns:
        Per head, the gradient of its loss for each variable (``None`` where the loss does
        not depend on it).
    """
    return [tape.gradient(loss, list(variables)) for loss in losses]
