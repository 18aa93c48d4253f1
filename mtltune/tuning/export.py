"""The best model, kept: ``best_model.keras`` and ``preprocessing.json`` in the run folder.

The saved model is a plain functional Keras model: the trained network followed, on each scaled
output, by standard Keras layers that undo the target's scale (``Rescaling``, and
``Activation("exponential")`` for ``scale: log``); heads trained through one fused output
matmul (``mtltune.model.fused``) are saved as one ``Dense`` per head. It takes the encoded
inputs (see ``preprocessing.json``) and returns a dict of outputs in the targets' units, and
loads with ``keras.saving.load_model`` alone: no mtltune class is needed (a study's custom loss
is not part of the saved model, which is saved uncompiled).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import keras

from mtltune.data import Dataset
from mtltune.data.preprocessing import preprocessing_document
from mtltune.data.scaling import OutputUnits, head_units
from mtltune.model.fused import unfused_network
from mtltune.model.multitask import MultiTaskModel
from mtltune.run.files import BEST_MODEL
from mtltune.run.folder import RunFolder
from mtltune.study import HeadConfig, Study


def export_network(model: MultiTaskModel, units: Mapping[str, OutputUnits]) -> keras.Model:
    """A functional model: the trained network, then each output mapped to target units.

    Args:
        model: A trained multi-task model (its network has one input).
        units: How each scaled output maps to the target's units.

    Returns:
        A model sharing the trained network's weights, with a dict output keyed by output name.
    """
    net = model.net
    inputs = keras.Input(shape=tuple(net.inputs[0].shape[1:]), name="inputs")
    # Heads trained through one fused matmul are saved as one Dense(1) each (same weights).
    plain = unfused_network(net)
    raw = model.call(inputs) if plain is net else plain(inputs)
    outputs = {}
    for key in model.output_keys:
        value = raw[key]
        spec = units.get(key)
        if spec is not None:
            rescale = keras.layers.Rescaling(spec.factor, offset=spec.offset, name=f"{key}_units")
            value = rescale(value)
            if spec.exponential:
                value = keras.layers.Activation("exponential", name=f"{key}_exp")(value)
        outputs[key] = value
    return keras.Model(inputs, outputs, name=f"{net.name}_best")


def save_best_model(
    run_dir: Path,
    model: MultiTaskModel,
    study: Study,
    dataset: Dataset,
    heads: Mapping[str, HeadConfig],
) -> None:
    """Write ``best_model.keras`` and ``preprocessing.json`` into the run folder (atomically).

    Args:
        run_dir: The run folder.
        model: The best trial's trained model.
        study: The study.
        dataset: Its prepared data (the fitted encoders).
        heads: The heads as the hypermodel resolved them (auxiliary outputs filled in).
    """
    exported = export_network(model, head_units(heads, dataset.target_scales))
    folder = RunFolder(run_dir)
    folder.write_best_model(exported.save)
    folder.write_preprocessing(preprocessing_document(study, dataset, BEST_MODEL))
