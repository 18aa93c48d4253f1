"""Early stopping that keeps the best epoch's weights inside TensorFlow.

Defined with mtltune's other callbacks in ``mtltune.model.callbacks``; this module keeps the
path ``mtltune.model.earlystop.BestEpochStopping`` (and ``mtltune.earlystop``) importable.
"""

from __future__ import annotations

from mtltune.model.callbacks import BestEpochStopping, WeightSnapshot, snapshot_of

__all__ = ["BestEpochStopping", "WeightSnapshot", "snapshot_of"]
