"""Each DORA key placed in its tier (a value on a bound takes the better tier) and compared with the period
before; a missing or non-finite value is placed nowhere rather than guessed."""

import math

from changeflow.domain.dora_tiers import KEYS, Tier, tier, trend

FREQUENCY, LEAD, FAIL, RECOVERY = (KEYS[k] for k in KEYS)


def placed(key, value):
    _, _, higher, bounds = key
    return tier(value, higher, bounds)


def test_each_key_is_placed_on_the_dora_bounds():
    assert [placed(FREQUENCY, v) for v in (3.0, 1.0, 0.2, 1 / 30, 0.01)] == [
        Tier.ELITE,
        Tier.ELITE,
        Tier.HIGH,
        Tier.MEDIUM,
        Tier.LOW,
    ]
    assert [placed(LEAD, v) for v in (2.0, 24.0, 100.0, 700.0, 1000.0)] == [
        Tier.ELITE,
        Tier.ELITE,
        Tier.HIGH,
        Tier.MEDIUM,
        Tier.LOW,
    ]
    assert [placed(FAIL, v) for v in (0.0, 0.05, 0.08, 0.15, 0.4)] == [
        Tier.ELITE,
        Tier.ELITE,
        Tier.HIGH,
        Tier.MEDIUM,
        Tier.LOW,
    ]
    assert [placed(RECOVERY, v) for v in (5.0, 600.0, 5000.0, 20000.0)] == [
        Tier.ELITE,
        Tier.HIGH,
        Tier.MEDIUM,
        Tier.LOW,
    ]


def test_nothing_to_place_is_no_tier():
    assert placed(FAIL, None) is None and placed(LEAD, math.nan) is None and placed(FREQUENCY, math.inf) is None


def test_the_trend_knows_which_way_is_better():
    assert trend(2.0, 1.0, higher_is_better=True) == "better" and trend(2.0, 1.0, higher_is_better=False) == "worse"
    assert trend(1.02, 1.0, higher_is_better=True) == "same"
    assert trend(None, 1.0, True) == "" and trend(1.0, math.nan, True) == ""
