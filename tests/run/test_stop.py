"""The stop token: owned by a run, requested by the CLI's signal handler, no process-wide flag."""

from __future__ import annotations

import copy
import os
import signal
import threading
import time

import pytest

from mtltune import StopToken, load_study
from mtltune.cli.signals import interruptible
from mtltune.launch import open_run


def test_a_request_is_honoured_by_check() -> None:
    token = StopToken()
    token.check()  # nothing requested: no effect
    assert not token.requested
    token.request()
    assert token.requested
    with pytest.raises(KeyboardInterrupt):
        token.check()


def test_copies_are_the_token_so_a_later_request_reaches_them() -> None:
    # Keras Tuner deep-copies a search's callbacks for every execution.
    token = StopToken()
    held = copy.deepcopy({"callbacks": [token]})["callbacks"][0]
    assert held is token and copy.copy(token) is token
    token.request()
    assert held.requested


def test_a_request_from_another_thread_is_seen() -> None:
    token = StopToken()
    thread = threading.Thread(target=token.request)
    thread.start()
    thread.join()
    assert token.requested


def test_two_runs_have_two_tokens(write_study, tmp_path) -> None:
    study = load_study(write_study({}))
    mine = StopToken()
    with open_run(study, tmp_path / "one", stop=mine) as one:
        assert one.stop is mine
    with open_run(study, tmp_path / "two") as two:
        assert two.stop is not mine
    mine.request()
    assert not two.stop.requested


def test_the_signal_handler_requests_the_runs_stop() -> None:
    token = StopToken()
    with pytest.raises(KeyboardInterrupt), interruptible(token.request):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):  # the handler runs between two bytecodes of this thread
            time.sleep(0.01)
    assert token.requested


def test_no_process_wide_stop_flag_is_left() -> None:
    import mtltune.search
    from mtltune.model import callbacks
    from mtltune.tuning import tuner

    for module in (callbacks, tuner, mtltune.search):
        for name in ("_STOP", "request_stop", "clear_stop", "check_stop", "StopCheck"):
            assert not hasattr(module, name), f"{module.__name__}.{name}"
