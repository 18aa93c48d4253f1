"""The garbage collector during a run (mtltune.run.heap) and a command's lean imports (imports)."""

from __future__ import annotations

import gc
import json
import sys

import pytest

from mtltune.run.heap import FrozenHeapSearch, freeze_survivors, frozen_heap, gc_paused
from mtltune.run.imports import imports_hidden, lean_imports, unused_packages


@pytest.fixture
def unfrozen():
    """Each test starts and must end with nothing frozen (a test process never freezes)."""
    gc.unfreeze()
    yield
    assert gc.get_freeze_count() == 0, "a block left the heap frozen"


class Cycle:
    """An object in a reference cycle: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_the_heap_is_frozen_inside_the_block_and_given_back_after(unfrozen) -> None:
    alive = Cycle()
    with frozen_heap():
        assert gc.get_freeze_count() > 0
        # What was alive at the start is out of the collector's sight ...
        assert not any(alive is o for o in gc.get_objects())
        made = Cycle()
        assert any(made is o for o in gc.get_objects())  # ... what the block makes is not
        with frozen_heap():  # nested: the outer block's freeze, nothing given back early
            pass
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    assert any(alive is o for o in gc.get_objects())


def test_garbage_frozen_in_the_block_is_collected_after_it(unfrozen) -> None:
    import weakref

    garbage = Cycle()
    ref = weakref.ref(garbage)
    del garbage
    with frozen_heap():
        gc.collect()
        assert ref() is not None  # frozen: the collector cannot free it meanwhile
    gc.collect()
    assert ref() is None


def test_survivors_are_frozen_inside_the_block_only(unfrozen) -> None:
    freeze_survivors()  # outside: nothing
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        before = gc.get_freeze_count()
        kept = [Cycle() for _ in range(100)]
        freeze_survivors()
        assert gc.get_freeze_count() >= before + 100
        assert not any(kept[0] is o for o in gc.get_objects())
    assert gc.get_freeze_count() == 0


def test_a_process_that_froze_its_heap_keeps_it_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with frozen_heap():
            pass
        assert gc.get_freeze_count() >= frozen  # its unfreeze is its own to call
    finally:
        gc.unfreeze()


def test_the_collector_is_paused_in_the_block_and_its_state_restored() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a collector the caller had turned off stays off
    finally:
        gc.enable()


def test_imports_hidden_inside_the_block_only(tmp_path, monkeypatch) -> None:
    (tmp_path / "optional_extra.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with lean_imports(["optional_extra", "json"]):
        assert not gc.isenabled()
        with pytest.raises(ImportError):
            import optional_extra
        import json as already  # imported before the block: unaffected

        assert already is json
    assert gc.isenabled()
    import optional_extra

    assert optional_extra.VALUE == 1
    sys.modules.pop("optional_extra")
    with imports_hidden(["optional_extra"]), pytest.raises(ImportError):
        import optional_extra
    sys.modules.pop("optional_extra", None)


def test_a_bayesian_search_keeps_scikit_learn_for_its_oracle() -> None:
    assert set(unused_packages("bayesian")) == {"matplotlib.pyplot", "IPython"}
    for oracle in ("tpe", "random", "hyperband", None):
        assert set(unused_packages(oracle)) == {"matplotlib.pyplot", "IPython", "sklearn"}


def test_a_tuner_with_the_mixin_searches_inside_a_frozen_heap(unfrozen) -> None:
    from mtltune import MultiTaskTuner, TPETuner

    class Tuner:
        def search(self, *fit_args, **fit_kwargs):
            return gc.get_freeze_count(), fit_args, fit_kwargs

    class Frozen(FrozenHeapSearch, Tuner):
        pass

    count, fit_args, fit_kwargs = Frozen().search(1, epochs=2)
    assert count > 0 and fit_args == (1,) and fit_kwargs == {"epochs": 2}
    assert issubclass(TPETuner, FrozenHeapSearch) and issubclass(MultiTaskTuner, FrozenHeapSearch)
