"""The per-model lock on Prefect's server: the drift check's ``hold_if_free`` never waits and never leaves
a slot behind it, whoever holds the model."""

import pytest

from changeflow.adapters.prefect import PrefectModelLocks

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_hold_if_free_steps_aside_at_once_and_leaks_nothing():
    locks = PrefectModelLocks()
    with locks.hold("lock-probe", timeout_s=10) as held:
        assert held
        for _ in range(5):  # a busy model, asked again and again (a drift check every interval)
            with locks.hold_if_free("lock-probe") as lease:
                assert lease is None
    with locks.hold_if_free("lock-probe") as lease:  # free again at once: no refused attempt took a slot later
        assert lease is not None
        with locks.hold_if_free("lock-probe") as second:
            assert second is None
    with locks.hold("lock-probe", timeout_s=5) as again:
        assert again
