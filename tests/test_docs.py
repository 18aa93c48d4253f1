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


def section(path: str, heading: str) -> str:
    """The text of a Markdown section, from its heading to the next heading of any level."""
    text = (ROOT / path).read_text()
    start = text.index(heading + "\n") + len(heading)
    following = re.search(r"^#{1,6} ", text[start:], flags=re.MULTILINE)
    return text[start : start + following.start()] if following else text[start:]


def named_entries(text: str) -> set[str]:
    """The file and folder names a passage lists in backticks (``confirm/`` as ``confirm``)."""
    found = re.findall(r"`([\w-]+(?:\.[a-z]+|/))`", text)  # a file with its extension, a folder/
    return {name.removesuffix("/") for name in found}


def test_the_run_folder_in_docs_studies_md_lists_every_entry_the_code_writes() -> None:
    from mtltune.run.files import LOCK_FILE, RUN_ENTRIES

    text = section("docs/studies.md", "## The run folder")
    assert named_entries(text) == {*RUN_ENTRIES, LOCK_FILE}
    assert "current directory" in text  # runs/<name> is relative to where mtltune runs


def test_what_overwrite_clears_in_docs_faults_md_is_run_entries() -> None:
    from mtltune.run.files import RUN_ENTRIES

    text = section("docs/faults.md", "### What `--overwrite` clears")
    cleared = text.split("Any other file", 1)[0]
    assert named_entries(cleared) == set(RUN_ENTRIES)


def heading_pattern(heading: str) -> re.Pattern[str]:
    """A documented heading (``## Replicates (<n>)``) as a pattern of the written one."""
    parts = re.split(r"<[^>]+>", heading)
    return re.compile(".+".join(re.escape(part) for part in parts) + r"\Z")


def test_docs_report_md_lists_the_sections_the_report_writes_in_their_order(tiny_run) -> None:
    from mtltune.report import report_markdown

    listed = re.findall(
        r"^\d+\. `(#[^`]+)`",
        section("docs/report.md", "### The sections of `report.md`"),
        flags=re.MULTILINE,
    )
    nested = re.findall(r"then `(#{3} [^`]+)`", (ROOT / "docs" / "report.md").read_text())
    documented = [heading_pattern(h) for h in [*listed, *nested]]
    # Every heading the code can write (f-string fields as <...>) is documented ...
    sources = "".join(p.read_text() for p in sorted((ROOT / "mtltune" / "report").glob("*.py")))
    in_code = {re.sub(r"\{[^}]*\}", "<x>", h) for h in re.findall(r"\"(#{1,3} [^\"]+)\"", sources)}
    for heading in in_code:
        written = heading.replace("<x>", "x")
        assert any(p.match(written) for p in documented), f"{heading} is not in docs/report.md"
    # ... and a real report's headings come in the documented order.
    result, _ = tiny_run
    real = [line for line in report_markdown(result).splitlines() if re.match(r"#{1,2} ", line)]
    order = [next(i for i, p in enumerate(documented) if p.match(line)) for line in real]
    assert order == sorted(order), real
    assert len(real) >= 6, real


def test_the_time_in_all_of_report_md_adds_up_the_time_split_below_it(tiny_run) -> None:
    _, run_dir = tiny_run
    text = (run_dir / "report.md").read_text()
    total = float(re.search(r"([\d,]+) s in all", text).group(1).replace(",", ""))
    split = re.search(r"^- Time: (.*)\.$", text, flags=re.MULTILINE).group(1)
    seconds = [float(s) for s in re.findall(r" ([\d.]+) s", split)]
    assert "report" in split
    assert abs(total - sum(seconds)) <= 0.5 + 0.05 * len(seconds), (total, split)


def test_the_mtltune_show_output_in_docs_report_md_is_what_it_prints() -> None:
    from typer.testing import CliRunner

    from mtltune.cli import app

    text = section("docs/report.md", "## What `mtltune show` prints under `search.objective`")
    command = re.search(r"`(mtltune show [^`]+)`", text).group(1)
    documented = re.search(r"```yaml\n(.*?)```", text, flags=re.DOTALL).group(1)
    printed = CliRunner().invoke(app, command.split()[1:], catch_exceptions=False)
    assert printed.exit_code == 0, printed.output
    assert documented in printed.output
