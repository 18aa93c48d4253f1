"""The arithmetic of the multi-task optimisation methods, on tensors, without TensorFlow.

Each function is written against ``ops`` (the ``tensorflow`` module, passed in by the model),
as ``mtltune.model.strategies`` is, and follows its paper's definition;
``tests/model/test_methods.py`` checks each on gradients and losses whose result is worked out
by hand. The strategies of
``mtltune.model.methods`` call them in their steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Floor of a loss inside a logarithm or a ratio (FAMO's and LibMTL's ``1e-8``).
LOSS_FLOOR = 1e-8
#: Smallest GradNorm weight before renormalisation (the paper leaves weights positive).
GRADNORM_FLOOR = 1e-3


def loss_levels(ops: Any, losses: Any, log_scale: Any) -> Any:
    """Positive per-head loss levels for ratios: ``L_i``, or ``exp(L_i)`` for a log-likelihood.

    Ratios of negative log-likelihoods mean nothing; ``exp(L)`` is the likelihood's scale (the
    objective's ``exp(L)`` too).
    """
    return ops.where(log_scale, ops.exp(losses), ops.maximum(losses, LOSS_FLOOR))


def log_losses(ops: Any, losses: Any, log_scale: Any) -> Any:
    """``log L_i`` (floored), or ``L_i`` itself for a log-likelihood head (FAMO's ``log ℓ``)."""
    return ops.where(log_scale, losses, ops.math.log(ops.maximum(losses, LOSS_FLOOR)))


def dwa_weights(ops: Any, previous: Any, epochs: Any, temperature: Any) -> Any:
    """DWA's weights for the next epoch (Liu, Johns & Davison 2019, eq. 5).

    ``w_k = K·exp(r_k/T) / Σ_j exp(r_j/T)`` with ``r_k = L_k(t-1)/L_k(t-2)``; 1 while fewer than
    two epochs have ended (the paper's ``w_k(1) = w_k(2) = 1``).

    Args:
        ops: The tensor operations.
        previous: Shape ``(2, K)``: the last epoch's mean losses, then the one before's.
        epochs: How many epochs have ended (a float scalar).
        temperature: ``T``.
    """
    ratios = previous[0] / ops.maximum(previous[1], LOSS_FLOOR)
    k = ops.cast(ops.shape(ratios)[0], ratios.dtype)
    weights = k * ops.nn.softmax(ratios / temperature)
    return ops.where(epochs >= 2.0, weights, ops.ones_like(weights))


def gradnorm_weight_gradient(
    ops: Any, weights: Any, norms: Any, ratios: Any, alpha: Any
) -> tuple[Any, Any]:
    """GradNorm's gradient of ``L_grad`` with respect to the weights (Chen et al. 2018, eq. 2).

    ``G_i = w_i·‖∇_W L_i‖``, ``r_i = L̃_i / mean(L̃)`` with ``L̃_i = L_i(t)/L_i(0)``, and
    ``L_grad = Σ_i |G_i − mean(G)·r_i^α|`` with the target held constant, as the paper does:
    ``∂L_grad/∂w_i = sign(G_i − target_i)·‖∇_W L_i‖``.

    Args:
        ops: The tensor operations.
        weights: ``w``, shape ``(K,)``.
        norms: ``‖∇_W L_i‖`` at the last shared layer ``W`` (unweighted), shape ``(K,)``.
        ratios: ``L̃_i = L_i(t)/L_i(0)``, shape ``(K,)``.
        alpha: ``α``, the strength of the pull towards equal training rates.

    Returns:
        The gradient, and ``L_grad`` itself.
    """
    g = weights * norms
    relative = ratios / ops.reduce_mean(ratios)
    target = ops.stop_gradient(ops.reduce_mean(g) * relative**alpha)
    gap = g - target
    return ops.sign(gap) * norms, ops.reduce_sum(ops.abs(gap))


def renormalise(ops: Any, weights: Any) -> Any:
    """Positive weights rescaled to sum ``K`` (GradNorm's step after each update)."""
    positive = ops.maximum(weights, GRADNORM_FLOOR)
    k = ops.cast(ops.shape(positive)[0], positive.dtype)
    return k * positive / ops.reduce_sum(positive)


def pcgrad(ops: Any, grads: Any, seed: Any) -> Any:
    """PCGrad's combined gradient (Yu et al. 2020, Algorithm 1).

    Each head's gradient ``g_i`` is projected, in a random order of the other heads ``j``, off
    the plane normal to ``g_j`` wherever they conflict (``g_i·g_j < 0``):
    ``g_i ← g_i − (g_i·g_j)/‖g_j‖²·g_j`` (against the original ``g_j``); the results are summed.

    Args:
        ops: The tensor operations.
        grads: The per-head gradients, flattened: shape ``(K, P)`` (``K`` known when traced).
        seed: Two integers seeding this step's orders (stateless: the same seed, the same order).

    Returns:
        The combined gradient, shape ``(P,)``.
    """
    k = int(grads.shape[0])
    squared = ops.reduce_sum(grads * grads, axis=1)
    combined = []
    for i in range(k):
        keys = ops.random.stateless_uniform([k], seed=seed + ops.constant([0, i], seed.dtype))
        order = ops.argsort(keys)
        g = grads[i]
        for position in range(k):
            j = order[position]
            other = ops.gather(grads, j)
            dot = ops.reduce_sum(g * other)
            conflict = ops.logical_and(dot < 0.0, ops.not_equal(j, i))
            scale = ops.where(conflict, dot / ops.maximum(ops.gather(squared, j), 1e-20), 0.0)
            g = g - scale * other
        combined.append(g)
    return ops.add_n(combined)


def famo_objective(ops: Any, logits: Any, logs: Any) -> Any:
    """What FAMO's network step minimises (Liu et al. 2023, Algorithm 1).

    ``Σ_i c·z_i·log ℓ_i`` with ``z = softmax(ξ)`` and ``c = (Σ_i z_i/ℓ_i)⁻¹`` held constant: its
    gradient is FAMO's update direction ``d = Σ_i c·z_i/ℓ_i·∇ℓ_i``.

    Args:
        ops: The tensor operations.
        logits: ``ξ``, shape ``(K,)``.
        logs: ``log ℓ_i`` (``log_losses``), shape ``(K,)``.
    """
    z = ops.stop_gradient(ops.nn.softmax(logits))
    c = ops.stop_gradient(1.0 / ops.reduce_sum(z * ops.exp(-logs)))
    return c * ops.reduce_sum(z * logs)


def famo_logit_gradient(ops: Any, logits: Any, before: Any, after: Any, decay: Any) -> Any:
    """FAMO's gradient for the logits ``ξ`` (Liu et al. 2023, Algorithm 1).

    ``δ_i = log ℓ_i(θ_t) − log ℓ_i(θ_{t+1})`` (the same batch, before and after the step) and
    the gradient is ``J_softmax(ξ)ᵀ δ + γ ξ = z ⊙ (δ − zᵀδ) + γ ξ``. Descending it raises the
    weight of the heads whose log loss fell least.

    Args:
        ops: The tensor operations.
        logits: ``ξ``, shape ``(K,)``.
        before: ``log ℓ`` before the network's step.
        after: ``log ℓ`` after it, on the same batch.
        decay: ``γ``.
    """
    z = ops.nn.softmax(logits)
    delta = ops.stop_gradient(before - after)
    return z * (delta - ops.reduce_sum(z * delta)) + decay * logits


def last_shared_kernel(shared: Sequence[Any]) -> Any:
    """The last shared variable of rank 2 or more (the last shared layer's kernel), or the last.

    Raises:
        ValueError: If no variable is shared by every head.
    """
    if not shared:
        raise ValueError("gradnorm needs layers shared by every head (a trunk)")
    kernels = [v for v in shared if len(v.shape) >= 2]
    return (kernels or list(shared))[-1]
