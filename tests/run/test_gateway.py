"""The one gateway of run-folder writes (``mtltune.run.atomic``): never outside, no link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mtltune import DamagedRunError
from mtltune.run.atomic import (
    RunPathError,
    make_folder,
    open_stream,
    save_npz,
    write_file,
    write_with,
)
from mtltune.run.folder import RunFolder
from mtltune.run.lock import acquire_run_lock, read_run_lock


def snapshot(top: Path) -> dict[str, str]:
    return {
        str(p.relative_to(top)): (os.readlink(p) if p.is_symlink() else p.read_text())
        for p in sorted(top.rglob("*"))
        if p.is_symlink() or p.is_file()
    }


def _escape(run: Path) -> Path:
    return run / ".." / "outside.txt"


def _final_link(run: Path) -> Path:
    (run / "report.md").symlink_to("../victim.txt")
    return run / "report.md"


def _folder_link(run: Path) -> Path:
    (run / "plots").symlink_to("../mine")
    return run / "plots" / "objective.png"


def _deep_link(run: Path) -> Path:
    (run / "tuner").mkdir()
    (run / "tuner" / "trial_0").symlink_to("../../mine")
    return run / "tuner" / "trial_0" / "traceback.txt"


def _file_for_folder(run: Path) -> Path:
    (run / "histories").write_text("a file")
    return run / "histories" / "0.json"


def _dangling_link(run: Path) -> Path:
    (run / "trials.csv").symlink_to("../created-through-link.csv")
    return run / "trials.csv"


REFUSED = {
    "../ out of the folder": (_escape, "outside the run folder"),
    "the file is a link": (_final_link, "symbolic link"),
    "a folder is a link": (_folder_link, "symbolic link"),
    "a folder deeper down is a link": (_deep_link, "symbolic link"),
    "a file where a folder belongs": (_file_for_folder, "a file where a folder belongs"),
    "a dangling link": (_dangling_link, "symbolic link"),
}


@pytest.mark.parametrize("name", list(REFUSED), ids=list(REFUSED))
@pytest.mark.parametrize("how", ["write_file", "write_with", "open_stream", "save_npz"])
def test_every_way_of_writing_refuses_to_leave_the_run_folder(name, how, tmp_path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "victim.txt").write_text("precious")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "objective.png").write_text("mine")
    make, words = REFUSED[name]
    target = make(run)
    before = snapshot(tmp_path)
    writers = {
        "write_file": lambda: write_file(target, "x", root=run),
        "write_with": lambda: write_with(target, lambda p: p.write_text("x"), root=run),
        "open_stream": lambda: open_stream(target, root=run).close(),
        "save_npz": lambda: save_npz(target, {}, root=run),
    }
    with pytest.raises(RunPathError, match=words) as caught:
        writers[how]()
    assert isinstance(caught.value, DamagedRunError)
    assert snapshot(tmp_path) == before  # nothing written, nothing left behind


def test_the_gateway_writes_inside_and_leaves_no_temporary(tmp_path) -> None:
    run = tmp_path / "run"
    write_file(run / "plots" / "a.png", b"png", root=run)
    write_with(run / "best_model.keras", lambda p: p.write_bytes(b"zip"), root=run)
    make_folder(run / "tuner" / "trial_0", root=run)
    with open_stream(run / "workers" / "tuner0.log", root=run) as log:
        log.write(b"line\n")
    assert snapshot(run) == {
        "best_model.keras": "zip",
        "plots/a.png": "png",
        "workers/tuner0.log": "line\n",
    }
    assert (run / "tuner" / "trial_0").is_dir()


def test_the_run_folder_itself_may_be_a_link_the_user_chose(tmp_path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "out").symlink_to("real")
    write_file(tmp_path / "out" / "report.md", "r", root=tmp_path / "out")
    assert (tmp_path / "real" / "report.md").read_text() == "r"


def test_the_lock_never_follows_a_link(tmp_path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "victim.txt").write_text("precious")
    (run / "mtltune.lock").symlink_to("../victim.txt")
    with pytest.raises(DamagedRunError, match="symbolic link"):
        acquire_run_lock(run)
    assert read_run_lock(run) is None
    (run / "mtltune.lock").unlink()
    (run / "mtltune.lock").symlink_to("../not-there.txt")  # O_CREAT through a dangling link
    with pytest.raises(DamagedRunError, match="symbolic link"):
        acquire_run_lock(run)
    assert (tmp_path / "victim.txt").read_text() == "precious"
    assert not (tmp_path / "not-there.txt").exists()


def test_a_users_lock_named_file_is_foreign_and_a_lock_is_ours(tmp_path) -> None:
    folder = RunFolder(tmp_path)
    (tmp_path / "mtltune.lock").write_text("my notes")
    assert folder.foreign_entries() == ["mtltune.lock"]
    (tmp_path / "mtltune.lock").write_text('{"role": "search", "pid": 1}')
    assert folder.foreign_entries() == []
    (tmp_path / "mtltune.lock").write_text("")  # a search just starting
    assert folder.foreign_entries() == []
