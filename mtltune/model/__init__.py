"""The model: network, heads, the multi-task model, strategies, Adam, the epoch loop, objectives.

Everything that runs TensorFlow to train one model by one plan: ``network`` builds a study's
trunk and heads, ``heads`` their losses and metrics, ``strategies`` what each strategy searches
and how it trains, ``multitask`` the Keras model whose steps implement the strategies, ``adam``
the fused Adam, ``loop`` the compiled epoch loop, ``earlystop`` the best-epoch stopping and
``objectives`` the weight-free score. May import ``mtltune.study``, ``mtltune.data`` and
``mtltune.compat``; nothing here knows Keras Tuner's tuners, the run folder or the report.
This ``__init__`` imports nothing, so the TensorFlow-free modules (``strategies``) stay so.
"""
