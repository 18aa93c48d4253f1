"""The model: network, heads, the multi-task model, strategies, Adam, the loop, callbacks.

Everything that runs TensorFlow to train one model by one plan: ``network`` builds a study's
trunk and heads, ``heads`` their losses and metrics, ``strategies`` one object per strategy
(what it searches, its plan, its optimizers and its total loss), ``multitask`` the Keras model
whose steps ask the plan's strategy, ``adam`` the fused Adam, ``loop`` the compiled epoch loop,
``callbacks`` the Keras callbacks (objective logging, divergence guard, best-epoch stopping)
and ``objectives`` the weight-free score. May
import ``mtltune.study``, ``mtltune.data`` and ``mtltune.compat``; nothing here knows Keras
Tuner's tuners, the run folder or the report. This ``__init__`` imports nothing, so the
TensorFlow-free modules (``strategies``) stay so.
"""
