"""The bundled studies and the docs cite only what exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bundled_studies_cite_no_missing_file() -> None:
    for study in sorted((ROOT / "studies").glob("*.yaml")):
        comments = "\n".join(
            line for line in study.read_text().splitlines() if line.lstrip().startswith("#")
        )
        for cited in re.findall(r"\b[\w./-]+\.(?:md|py|yaml|csv)\b", comments):
            found = (ROOT / cited).exists() or (study.parent / cited).exists()
            assert found, f"{study.name} cites {cited}, which is not in the repository"
