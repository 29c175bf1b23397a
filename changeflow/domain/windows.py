"""Change windows: business hours, off-hours, announced maintenance windows and freezes, time-zone aware.

``find_slot`` answers "when may this change run?" for the window classes its type allows at its risk
(``domain.policy``), from a calendar and a clock passed in, so every rule is testable without waiting;
``any_time`` (emergencies) runs at once, even in a freeze (the override is returned for the record).
Maintenance windows count only when announced at least ``announcement_lead_hours`` ahead of now.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from changeflow.domain.policy import WindowClass
from changeflow.domain.record import TERMINAL, ChangeRecord
from changeflow.domain.request import ChangeRequest


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


_WEEKDAYS = list(Weekday)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BusinessHours(_Strict):
    days: list[Weekday] = Field(default_factory=lambda: _WEEKDAYS[:5])
    start: time = time(9, 0)
    end: time = time(17, 0)

    @model_validator(mode="after")
    def _ordered(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError("business hours end must be after start")
        return self


class Span(_Strict):
    name: str
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end <= self.start:
            raise ValueError(f"{self.name}: end must be after start")
        return self


class MaintenanceWindow(Span):
    pass


class Freeze(Span):
    reason: str = Field(min_length=3)


class Calendar(_Strict):
    timezone: str = "UTC"
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    freezes: list[Freeze] = Field(default_factory=list)
    announcement_lead_hours: float = Field(48.0, ge=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Slot(_Strict):
    start: AwareDatetime
    end: AwareDatetime
    window: WindowClass
    window_name: str
    freeze_override: str | None = None


class NoSlot(_Strict):
    reason: str


def business_intervals(calendar: Calendar, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Business-hour intervals (UTC) overlapping [start, end), built per local date so DST is honoured."""
    zone, hours = calendar.zone, calendar.business_hours
    first, last = start.astimezone(zone).date() - timedelta(days=1), end.astimezone(zone).date() + timedelta(days=1)
    intervals, day = [], first
    while day <= last:
        if _WEEKDAYS[day.weekday()] in hours.days:
            s = datetime.combine(day, hours.start, tzinfo=zone).astimezone(timezone.utc)
            e = datetime.combine(day, hours.end, tzinfo=zone).astimezone(timezone.utc)
            if e > start and s < end:
                intervals.append((s, e))
        day += timedelta(days=1)
    return intervals


def _complement(
    intervals: list[tuple[datetime, datetime]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    gaps, cursor = [], start
    for s, e in sorted(intervals):
        if s > cursor:
            gaps.append((cursor, min(s, end)))
        cursor = max(cursor, e)
    if cursor < end:
        gaps.append((cursor, end))
    return [(s, e) for s, e in gaps if e > s]


def _subtract(intervals, cuts):
    result = []
    for s, e, label in intervals:
        pieces = [(s, e)]
        for cs, ce in cuts:
            pieces = [p for a, b in pieces for p in ((a, min(b, cs)), (max(a, ce), b)) if p[1] > p[0]]
        result += [(a, b, label) for a, b in pieces]
    return result


def window_at(calendar: Calendar, moment: datetime) -> WindowClass:
    """The window class a moment falls in (planned maintenance wins over the hour of day)."""
    if any(m.start <= moment < m.end for m in calendar.maintenance):
        return WindowClass.PLANNED_MAINTENANCE
    inside = any(s <= moment < e for s, e in business_intervals(calendar, moment, moment + timedelta(seconds=1)))
    return WindowClass.BUSINESS_HOURS if inside else WindowClass.OFF_HOURS


def active_freeze(calendar: Calendar, start: datetime, end: datetime) -> Freeze | None:
    return next((f for f in calendar.freezes if f.start < end and f.end > start), None)


def find_slot(
    calendar: Calendar,
    allowed: tuple[WindowClass, ...],
    now: datetime,
    duration: timedelta,
    not_before: datetime | None = None,
    deadline: datetime | None = None,
    horizon: timedelta = timedelta(days=90),
) -> Slot | NoSlot:
    """The earliest slot of ``duration`` the change may run in, or why there is none before its deadline."""
    earliest = max(now, not_before) if not_before else now
    limit = min(deadline, earliest + horizon) if deadline else earliest + horizon
    if WindowClass.ANY_TIME in allowed:
        freeze = active_freeze(calendar, earliest, earliest + duration)
        override = f"emergency change overrides freeze '{freeze.name}' ({freeze.reason})" if freeze else None
        return Slot(
            start=earliest,
            end=earliest + duration,
            window=WindowClass.ANY_TIME,
            window_name="immediately",
            freeze_override=override,
        )
    candidates: list[tuple[datetime, datetime, tuple[WindowClass, str]]] = []
    business = business_intervals(calendar, earliest, limit)
    if WindowClass.BUSINESS_HOURS in allowed:
        candidates += [(s, e, (WindowClass.BUSINESS_HOURS, "business hours")) for s, e in business]
    if WindowClass.OFF_HOURS in allowed:
        candidates += [(s, e, (WindowClass.OFF_HOURS, "off-hours")) for s, e in _complement(business, earliest, limit)]
    lead = timedelta(hours=calendar.announcement_lead_hours)
    if WindowClass.PLANNED_MAINTENANCE in allowed:
        candidates += [
            (m.start, m.end, (WindowClass.PLANNED_MAINTENANCE, m.name))
            for m in calendar.maintenance
            if m.start - now >= lead
        ]
    candidates = _subtract(candidates, [(f.start, f.end) for f in calendar.freezes])
    for s, e, (window, name) in sorted(candidates, key=lambda c: c[0]):
        start = max(s, earliest)
        if start + duration <= min(e, limit):
            return Slot(start=start, end=start + duration, window=window, window_name=name)
    names = " or ".join(w.value.replace("_", " ") for w in allowed)
    freeze = active_freeze(calendar, earliest, limit)
    blocked = (
        f"; freeze '{freeze.name}' ({freeze.reason}) blocks {freeze.start:%Y-%m-%d %H:%M}–{freeze.end:%Y-%m-%d %H:%M} UTC"
        if freeze
        else ""
    )
    short = [m.name for m in calendar.maintenance if earliest <= m.start < limit and m.start - now < lead]
    late = (
        f"; maintenance {', '.join(short)} announced less than {calendar.announcement_lead_hours:g}h ahead"
        if short
        else ""
    )
    until = f"before the deadline {deadline:%Y-%m-%d %H:%M %Z}" if deadline else f"within {horizon.days} days"
    return NoSlot(reason=f"no {names} slot of {duration} {until}{blocked}{late}")


def upcoming(calendar: Calendar, now: datetime, days: int = 14) -> list[tuple[datetime, datetime, str]]:
    """Maintenance windows and freezes in the next ``days``, for the change calendar view."""
    end = now + timedelta(days=days)
    spans = [(m.start, m.end, f"maintenance: {m.name}") for m in calendar.maintenance if m.end > now and m.start < end]
    spans += [
        (f.start, f.end, f"freeze: {f.name} ({f.reason})") for f in calendar.freezes if f.end > now and f.start < end
    ]
    return sorted(spans)


class SchedulingDecision(_Strict):
    """What the governed flow does with a slot: run now, wait for it, or hand it to the maintenance flow."""

    hand_off: bool
    wait: bool
    reason: str


def scheduling_decision(slot: Slot, clock: datetime, clock_given: bool) -> SchedulingDecision:
    """A future planned maintenance window is handed off (its flow runs it when it opens); another
    future slot is waited for. With a scheduling clock given (demo, tests) the change runs at once."""
    future = slot.start > clock
    hand_off = not clock_given and future and slot.window is WindowClass.PLANNED_MAINTENANCE
    override = f"; {slot.freeze_override}" if slot.freeze_override else ""
    simulated = " (scheduling clock given: runs now as if the slot had opened)" if clock_given and future else ""
    later = " (the maintenance-window flow runs it when the window opens)" if hand_off else ""
    reason = f"{slot.window_name}: {slot.start.isoformat()} – {slot.end.isoformat()}{override}{simulated}{later}"
    return SchedulingDecision(hand_off=hand_off, wait=not clock_given and not hand_off and future, reason=reason)


# --- collisions between changes to the same model: overlapping windows warn on the plan ---------------
# (execution itself is serialised per model by a lock; this tells people before they schedule)


def _span(record: ChangeRecord) -> tuple[datetime | None, datetime | None]:
    if record.slot_start and record.slot_end:
        return record.slot_start, record.slot_end
    window = record.request.window if record.request else None
    return (window.not_before, window.deadline) if window else (None, None)


def window_conflicts(request: ChangeRequest, records: list[ChangeRecord]) -> list[str]:
    """Warnings for open changes to the same model whose slot or requested window overlaps this request's."""
    start, end = request.window.not_before, request.window.deadline
    warnings = []
    for other in records:
        if other.id == request.id or other.model != request.model or other.state in TERMINAL:
            continue
        other_start, other_end = _span(other)
        overlaps = (start is None or other_end is None or start < other_end) and (
            end is None or other_start is None or other_start < end
        )
        if overlaps:
            when = (
                f"{other_start:%Y-%m-%d %H:%M %Z} – {other_end:%Y-%m-%d %H:%M %Z}"
                if other_start and other_end
                else "an open window"
            )
            warnings.append(
                f"{other.id} ({other.state.value}) also changes {request.model} in {when}; they will run one after the other"
            )
    return warnings


__all__ = [
    "Calendar",
    "Slot",
    "NoSlot",
    "find_slot",
    "window_at",
    "active_freeze",
    "upcoming",
    "scheduling_decision",
    "window_conflicts",
]
