"""What a worker takes on trust: the chief's word, never a run folder's.

A run folder is input anyone may have edited. A worker reads the study from the folder's
``study.json``, but a study can name code of its own (a ``module:function`` loss, imported from
the study's folder). So a local worker is told the study's fingerprint and folder by the chief
that starts it, in its environment, and runs only that study; a remote worker imports a study's
own code only from the study file it is given (``--study``). Imports nothing but the study's
catalog and the errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtltune.errors import SearchError
from mtltune.study.catalog import is_custom_loss

#: What the chief tells its local workers of the study, so they need not trust the run folder.
TRUSTED_FINGERPRINT, TRUSTED_BASE_DIR = "MTLTUNE_CHIEF_FINGERPRINT", "MTLTUNE_CHIEF_BASE_DIR"


def refuse_code_from_folder(saved: dict[str, Any], marker: Path, trusted: bool) -> None:
    """Refuse a run folder's study that names code of its own, unless the chief vouches for it.

    A run folder is input anyone may have edited: a remote worker imports a study's own loss
    module only from the study file it is given (``--study``), never on the folder's word. A
    local worker is told the study's fingerprint by its chief, which ``load_run_study`` checks.
    """
    heads = saved.get("study", {}).get("heads", {}) if isinstance(saved.get("study"), dict) else {}
    named = {
        h: str(cfg.get("loss"))
        for h, cfg in (heads.items() if isinstance(heads, dict) else [])
        if isinstance(cfg, dict) and is_custom_loss(str(cfg.get("loss")))
    }
    if named and not trusted:
        head, loss = next(iter(named.items()))
        raise SearchError(
            f"the study in {marker} runs code of its own (heads.{head}.loss: {loss}); a worker "
            "imports it only from the study file, never on a run folder's word: pass "
            "--study STUDY (the chief's study file, as this host sees it)"
        )
