"""Waves: the replicas each wave reaches, the governed list's checks, and the candidate's share of traffic."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from changeflow.domain.comparison import Verification
from changeflow.domain.serving import MetricsSnapshot, VersionCounters
from changeflow.domain.waves import EVERYWHERE, candidate_share, wave_label, wave_sizes


@pytest.mark.parametrize(
    ("waves", "replicas", "sizes"),
    [
        ([1, "50%", "100%"], 3, [1, 2, 3]),
        ([1, "100%"], 3, [1, 3]),
        ([1, "100%"], 1, [1]),  # a fleet of one: one wave, as before
        (EVERYWHERE, 4, [4]),
        (["10%", "100%"], 4, [1, 4]),  # a share rounds up: a wave is never empty
        ([2, 1, "100%"], 5, [2, 5]),  # never narrower than the wave before
        ([5, "100%"], 3, [3]),
    ],
)
def test_each_wave_reaches_more_replicas_and_the_last_reaches_all(waves, replicas, sizes):
    assert wave_sizes(waves, replicas) == sizes


@pytest.mark.parametrize(
    ("waves", "problem"),
    [
        ([1, "50%"], "must end with '100%'"),
        ([0, "100%"], "reaches none"),
        (["150%", "100%"], "at most 100"),
        (["half", "100%"], "not a number of replicas or a share"),
        ([True, "100%"], "not a boolean"),
        (["nan%", "100%"], "not a number of replicas or a share"),
    ],
)
def test_governance_waves_are_refused_naming_the_problem(waves, problem):
    with pytest.raises(ValidationError, match=problem):
        Verification(waves={"normal": waves})


def test_by_default_a_normal_change_bakes_one_replica_first_and_the_others_go_at_once():
    assert {t.value: w for t, w in Verification().waves.items()} == {
        "standard": EVERYWHERE,
        "normal": (1, "100%"),
        "emergency": EVERYWHERE,
    }


def counters(*rows) -> MetricsSnapshot:
    return MetricsSnapshot(
        taken_at=0.0, counters=tuple(VersionCounters(model=m, version=v, success=n) for m, v, n in rows)
    )


def test_the_candidates_share_is_the_clients_traffic_without_the_bakes_probes():
    before = counters(("m", 1, 1000), ("m", 4, 0), ("other", 1, 50))
    after = counters(("m", 1, 1700), ("m", 4, 400), ("other", 1, 900))
    # 400 answers by v4, 100 of them probes; 1100 answers in all, 200 of them probes (paired)
    assert candidate_share(before, after, "m", 4, probes=(100, 200)) == (300, 900)


def test_a_wave_is_named_only_when_there_are_several():
    assert wave_label(1, [3]) == "" and wave_label(1, [1, 3]) == "wave 1 of 2 (1 of 3 replicas)"
