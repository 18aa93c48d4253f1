"""The run folder: fingerprint, resume or refuse, overwrite, its files' one gateway."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mtltune import DamagedRunError, RunFolderError, SearchError, Study
from mtltune.run.atomic import save_npz
from mtltune.run.fingerprint import study_fingerprint
from mtltune.run.folder import RunFolder, prepare_run_folder


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


def test_the_gateway_writes_each_file_where_run_files_names_it_and_reads_it_back(
    tmp_path,
) -> None:
    folder = RunFolder(tmp_path / "run")
    table = pd.DataFrame({"trial_id": ["0"], "objective": [0.5]})
    arrays = {"x": np.arange(6.0).reshape(3, 2), "y/a": np.ones(3)}
    written = [
        folder.write_study_record({"fingerprint": "f"}),
        folder.write_history("07", {"loss": [1.0, 0.5]}),
        folder.write_trials(table),
        folder.write_pareto(table),
        *folder.write_report("# report\n", '{"best": {}}\n'),
        folder.write_plot("objective", b"\x89PNG"),
        folder.write_predictions(arrays),
        folder.write_replicates({"best/a": np.ones(2)}),
        folder.write_preprocessing({"model": "best_model.keras"}),
        folder.write_heartbeat("w1", {"beat": 3}),
        folder.write_trial_message(folder.tuner_dir / "trial_07", "diverged"),
        folder.write_traceback(folder.tuner_dir / "trial_07", "Traceback ..."),
        folder.write_best_model(lambda tmp: tmp.write_bytes(b"zip")),
        folder.write_confirm_weights("03", 1003, lambda tmp: tmp.write_bytes(b"h5")),
    ]
    folder.write_confirmation({"fingerprint": "f", "runs": []}, table)
    names = sorted(p.relative_to(folder.path).as_posix() for p in folder.path.rglob("*.*"))
    assert names == sorted(
        [
            "best_model.keras",
            "confirm.csv",
            "confirm.json",
            "confirm/03-1003.weights.h5",
            "histories/07.json",
            "pareto.csv",
            "plots/objective.png",
            "predictions.npz",
            "preprocessing.json",
            "replicates.npz",
            "report.json",
            "report.md",
            "study.json",
            "trials.csv",
            "tuner/trial_07/message.txt",
            "tuner/trial_07/traceback.txt",
            "workers/w1.json",
        ]
    )
    assert all(p.is_file() for p in written)
    assert folder.read_study_record() == {"fingerprint": "f"}
    assert folder.read_history("07") == {"loss": [1.0, 0.5]}
    assert folder.read_history("08") is None
    read = folder.read_predictions()
    assert read is not None and set(read) == set(arrays)
    np.testing.assert_array_equal(read["x"], arrays["x"])
    assert folder.read_confirmation() == {"fingerprint": "f", "runs": []}
    assert folder.read_heartbeat("w1") == {"beat": 3}
    assert folder.read_trial_message(folder.tuner_dir / "trial_07") == "diverged"
    assert folder.confirm_weights_to_load("03", 1003).read_bytes() == b"h5"
    assert pd.read_csv(folder.path / "trials.csv", dtype={"trial_id": str}).equals(table)


def test_the_gateway_reads_no_link_and_names_a_damaged_file(tmp_path) -> None:
    folder = RunFolder(tmp_path / "run")
    (tmp_path / "elsewhere.json").write_text('{"loss": [1.0]}')
    (folder.path / "histories").mkdir(parents=True)
    (folder.path / "histories" / "0.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(DamagedRunError, match=r"0\.json"):
        folder.read_history("0")
    (folder.path / "predictions.npz").write_bytes(b"not a zip")
    with pytest.raises(DamagedRunError, match=r"predictions\.npz.*not a readable \.npz"):
        folder.read_predictions()
    # What a search reads to go on: a damaged file is as good as none (the work is redone).
    (folder.path / "confirm.json").write_text("[1, 2")
    assert folder.read_confirmation() is None
    (folder.path / "workers").mkdir()
    (folder.path / "workers" / "w1.json").write_text("[]")
    assert folder.read_heartbeat("w1") is None
    with pytest.raises(DamagedRunError, match=r"symbolic link"):
        folder.write_history("0", {"loss": [2.0]})
    assert (tmp_path / "elsewhere.json").read_text() == '{"loss": [1.0]}'
