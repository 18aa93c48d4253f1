"""The suite's own scheduling: a test that reads a shared run goes to the worker that trained it.

``tests/conftest.py`` marks each such test with the run's ``xdist_group``; under ``--dist
loadgroup`` (pyproject.toml's addopts) pytest-xdist keeps a group on one worker by adding
``@<group>`` to the test's node id. When that stops working nothing fails: every shared run is
trained once per worker and the suite is slower (pytest 9.2 with pytest-xdist 3.8, pytest-xdist
issue 1386, is why pyproject.toml keeps pytest below 9.2). This test fails instead.
"""

from __future__ import annotations

import os

import pytest


def test_a_test_reading_a_shared_run_is_scheduled_with_that_run(
    request: pytest.FixtureRequest, tiny_run
) -> None:
    mark = request.node.get_closest_marker("xdist_group")
    assert mark is not None and mark.args == ("tiny_run",)
    if os.environ.get("PYTEST_XDIST_WORKER") is not None:  # two workers: the group holds
        assert request.node.nodeid.endswith("@tiny_run"), (
            f"{request.node.nodeid}: pytest-xdist did not keep the xdist_group (pytest "
            "9.2 ignores pytest-xdist 3.8's node-id suffix; see pyproject.toml's test extra)"
        )
