"""Custom losses named by import path."""

from __future__ import annotations

from mtltune.study.usercode import import_loss, import_problem


def test_a_module_beside_the_study_is_found(tmp_path) -> None:
    (tmp_path / "usercode_losses.py").write_text("def l2(y_true, y_pred):\n    return 2\n")
    assert import_loss("usercode_losses:l2", tmp_path)(0, 0) == 2
    assert import_problem("usercode_losses:l2", tmp_path) is None


def test_problems_say_what_is_wrong(tmp_path) -> None:
    (tmp_path / "usercode_broken.py").write_text("raise RuntimeError('boom')\n")
    assert "cannot import module" in import_problem("usercode_absent:f", tmp_path)
    assert "has no attribute 'nope'" in import_problem("json:nope", tmp_path)
    assert "is not a function" in import_problem("json:__name__", tmp_path)
    assert "RuntimeError: boom" in import_problem("usercode_broken:f", tmp_path)
