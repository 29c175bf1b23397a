from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changeflow import ChangeType, Risk
from changeflow.domain.policy import WindowClass, policy_for
from changeflow.domain.windows import Calendar, NoSlot, Slot, find_slot, window_at

UTC = timezone.utc
HOUR = timedelta(hours=1)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def calendar(**extra):
    return Calendar.model_validate({"timezone": "Europe/Berlin", **extra})


def test_standard_change_waits_for_monday_business_hours_across_dst():
    # Saturday before the spring DST switch (29 March 2026): Monday 09:00 CEST is 07:00 UTC.
    slot = find_slot(calendar(), policy_for(ChangeType.STANDARD).windows_for(Risk.LOW), utc(2026, 3, 28, 12), HOUR)
    assert slot == Slot(
        start=utc(2026, 3, 30, 7),
        end=utc(2026, 3, 30, 8),
        window=WindowClass.BUSINESS_HOURS,
        window_name="business hours",
    )
    # In winter the same local time is 08:00 UTC.
    assert find_slot(
        calendar(), policy_for(ChangeType.STANDARD).windows_for(Risk.LOW), utc(2026, 11, 28, 12), HOUR
    ).start == utc(2026, 11, 30, 8)


def test_the_same_rule_in_another_time_zone():
    new_york = Calendar(timezone="America/New_York")
    # Friday 16:30 in New York (21:30 UTC) — a 1 h change no longer fits; next is Monday 09:00 EST = 14:00 UTC.
    slot = find_slot(new_york, policy_for(ChangeType.STANDARD).windows_for(Risk.LOW), utc(2026, 11, 27, 21, 30), HOUR)
    assert slot.start == utc(2026, 11, 30, 14)


def test_normal_change_goes_off_hours():
    # Wednesday 10:00 Berlin (09:00 UTC) → 17:00 Berlin = 16:00 UTC.
    slot = find_slot(calendar(), policy_for(ChangeType.NORMAL).windows_for(Risk.MEDIUM), utc(2026, 11, 25, 9), HOUR)
    assert (slot.start, slot.window) == (utc(2026, 11, 25, 16), WindowClass.OFF_HOURS)
    assert window_at(calendar(), slot.start) is WindowClass.OFF_HOURS


def test_high_risk_normal_change_needs_an_announced_maintenance_window():
    now = utc(2026, 11, 25, 9)
    windows = [
        {"name": "too-soon", "start": utc(2026, 11, 26, 1), "end": utc(2026, 11, 26, 4)},  # 16 h ahead < 48 h lead
        {"name": "sat-maint", "start": utc(2026, 11, 28, 1), "end": utc(2026, 11, 28, 4)},
    ]
    slot = find_slot(calendar(maintenance=windows), policy_for(ChangeType.NORMAL).windows_for(Risk.HIGH), now, HOUR)
    assert (slot.start, slot.window, slot.window_name) == (
        utc(2026, 11, 28, 1),
        WindowClass.PLANNED_MAINTENANCE,
        "sat-maint",
    )
    refused = find_slot(
        calendar(maintenance=windows[:1]),
        policy_for(ChangeType.NORMAL).windows_for(Risk.HIGH),
        now,
        HOUR,
        deadline=utc(2026, 11, 27),
    )
    assert isinstance(refused, NoSlot)
    assert "announced less than 48h ahead" in refused.reason and "too-soon" in refused.reason


FREEZE = {"name": "year-end", "start": utc(2026, 12, 18), "end": utc(2027, 1, 4), "reason": "peak season"}


def test_freeze_blocks_a_normal_change_until_its_deadline():
    result = find_slot(
        calendar(freezes=[FREEZE]),
        policy_for(ChangeType.NORMAL).windows_for(Risk.MEDIUM),
        utc(2026, 12, 20, 10),
        HOUR,
        deadline=utc(2026, 12, 30),
    )
    assert isinstance(result, NoSlot)
    assert "freeze 'year-end' (peak season)" in result.reason and "before the deadline" in result.reason
    after = find_slot(
        calendar(freezes=[FREEZE]), policy_for(ChangeType.NORMAL).windows_for(Risk.MEDIUM), utc(2026, 12, 20, 10), HOUR
    )
    assert after.start == utc(2027, 1, 4)  # first off-hours minute after the freeze (a Monday, before 09:00 Berlin)


def test_emergency_runs_at_once_in_a_freeze_with_the_override_recorded():
    slot = find_slot(
        calendar(freezes=[FREEZE]), policy_for(ChangeType.EMERGENCY).windows_for(Risk.HIGH), utc(2026, 12, 20, 10), HOUR
    )
    assert slot.start == utc(2026, 12, 20, 10) and slot.window is WindowClass.ANY_TIME
    assert slot.freeze_override == "emergency change overrides freeze 'year-end' (peak season)"


def test_not_before_is_honoured():
    slot = find_slot(
        calendar(),
        policy_for(ChangeType.NORMAL).windows_for(Risk.MEDIUM),
        utc(2026, 11, 25, 9),
        HOUR,
        not_before=utc(2026, 11, 25, 22),
    )
    assert slot.start == utc(2026, 11, 25, 22)


def test_unknown_time_zone_is_refused():
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        Calendar(timezone="Mars/Olympus")


@settings(max_examples=200, deadline=None)
@given(
    now=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC"]),
    change_type=st.sampled_from([ChangeType.STANDARD, ChangeType.NORMAL]),
    minutes=st.integers(5, 240),
)
def test_every_slot_lies_wholly_inside_an_allowed_window(now, zone, change_type, minutes):
    cal = Calendar(timezone=zone, freezes=[FREEZE])
    slot = find_slot(cal, policy_for(change_type).windows_for(Risk.MEDIUM), now, timedelta(minutes=minutes))
    assert isinstance(slot, Slot) and slot.start >= now
    expected = WindowClass.BUSINESS_HOURS if change_type is ChangeType.STANDARD else WindowClass.OFF_HOURS
    step = timedelta(minutes=5)
    t = slot.start
    while t < slot.end:  # every moment of the slot is in the window and outside the freeze
        assert window_at(cal, t) is expected
        assert not (FREEZE["start"] <= t < FREEZE["end"])
        t += step
