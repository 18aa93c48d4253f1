"""The run folder: fingerprint, resume or refuse, overwrite, saved arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtltune import RunFolderError, SearchError, Study
from mtltune.run.atomic import save_npz
from mtltune.run.folder import RunFolder, prepare_run_folder, study_fingerprint


def test_fingerprint_ignores_max_trials_only(tiny_raw) -> None:
    base = Study.from_dict(tiny_raw)
    more = Study.from_dict({**tiny_raw, "search": {**tiny_raw["search"], "max_trials": 50}})
    other = Study.from_dict({**tiny_raw, "seed": 99})
    assert study_fingerprint(base) == study_fingerprint(more)
    assert study_fingerprint(base) != study_fingerprint(other)


def test_new_resumed_refused_and_overwritten(tiny_raw, tmp_path) -> None:
    study = Study.from_dict(tiny_raw)
    folder = RunFolder(tmp_path / "run")
    assert prepare_run_folder(study, folder, overwrite=False) is False
    marker = json.loads((folder.path / "study.json").read_text())
    assert marker["fingerprint"] == study_fingerprint(study)
    folder.tuner_dir.mkdir()
    (folder.path / "report.json").write_text("{}")
    assert prepare_run_folder(study, folder, overwrite=False) is True
    other = Study.from_dict({**tiny_raw, "seed": 42})
    with pytest.raises(SearchError, match="different study"):
        prepare_run_folder(other, folder, overwrite=False)
    assert folder.tuner_dir.exists()  # refused: nothing wiped
    assert prepare_run_folder(other, folder, overwrite=True) is False
    assert not folder.tuner_dir.exists() and not (folder.path / "report.json").exists()


def test_a_foreign_folder_without_a_marker_is_refused_even_with_overwrite(
    tiny_raw, tmp_path
) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.tuner_dir.mkdir(parents=True)
    (folder.tuner_dir / "__init__.py").write_text("code")
    for overwrite in (False, True):
        with pytest.raises(RunFolderError, match="holds no mtltune run"):
            prepare_run_folder(Study.from_dict(tiny_raw), folder, overwrite=overwrite)
    assert (folder.tuner_dir / "__init__.py").read_text() == "code"
    assert not (folder.path / "study.json").exists()


def test_save_npz_round_trips_and_leaves_no_temporary_file(tmp_path) -> None:
    save_npz(tmp_path / "a.npz", {"x": np.arange(3), "y/z": np.ones((2, 2))}, root=tmp_path)
    loaded = np.load(tmp_path / "a.npz")
    np.testing.assert_array_equal(loaded["x"], np.arange(3))
    np.testing.assert_array_equal(loaded["y/z"], np.ones((2, 2)))
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]


def test_study_json_records_the_folder_relative_paths_resolve_against(tiny_raw, tmp_path) -> None:
    study = Study.from_dict(tiny_raw, base_dir=tmp_path)
    folder = RunFolder(tmp_path / "run")
    prepare_run_folder(study, folder, overwrite=False)
    assert json.loads((folder.path / "study.json").read_text())["base_dir"] == str(tmp_path)


def test_a_tuner_of_another_id_adopts_the_saved_oracle(tmp_path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.adopt_tuner_state("chief")  # nothing saved yet: nothing to adopt
    assert not folder.tuner_dir.exists()
    folder.tuner_dir.mkdir(parents=True)
    (folder.tuner_dir / "oracle.json").write_text("{}")
    (folder.tuner_dir / "tuner0.json").write_text('{"kept": 1}')
    folder.adopt_tuner_state("chief")
    folder.adopt_tuner_state("tuner0")
    assert (folder.tuner_dir / "chief.json").read_text() == "{}"
    assert (folder.tuner_dir / "tuner0.json").read_text() == '{"kept": 1}'
