"""The data: loading a table or a built-in generator, checks, splits, train-only preprocessing.

``prepare_dataset(study)`` returns a ``Dataset``: train, stop and test arrays keyed by head, with
every statistic (input standardisation, one-hot categories, class weights) fitted on train only.
May import ``mtltune.study`` and ``mtltune.errors``; never TensorFlow.
"""

from mtltune.data.dataset import (
    SPLITS,
    Dataset,
    InputEncoder,
    SplitArrays,
    TargetEncoder,
    describe,
    load_table,
    prepare_dataset,
    split_indices,
)

__all__ = [
    "SPLITS",
    "Dataset",
    "InputEncoder",
    "SplitArrays",
    "TargetEncoder",
    "describe",
    "load_table",
    "prepare_dataset",
    "split_indices",
]
