"""The zone times are shown in: the governance calendar's, read alone and strictly; UTC otherwise."""

from datetime import timezone
from zoneinfo import ZoneInfo

from changeflow.settings.defaults import display_zone


def test_the_calendar_zone_is_shown_and_anything_unreadable_falls_back_to_utc(tmp_path, monkeypatch):
    monkeypatch.setenv("CHANGEFLOW_GOVERNANCE", str(tmp_path))
    assert display_zone() == timezone.utc  # no calendar here
    (tmp_path / "calendar.yaml").write_text("timezone: Asia/Tokyo\n")
    assert display_zone() == ZoneInfo("Asia/Tokyo")
    (tmp_path / "calendar.yaml").write_text("timezone: Asia/Tokyo\ntimezone: Europe/Berlin\n")  # which one?
    assert display_zone() == timezone.utc
    (tmp_path / "calendar.yaml").write_text("timezone: Mars/Olympus\n")
    assert display_zone() == timezone.utc
