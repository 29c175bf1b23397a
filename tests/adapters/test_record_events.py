"""``changeflow.records.*`` events: sent only when a Prefect API is configured, never failing the caller,
and a checkpoint too big for one event sent without its heads (its signature covers their digest)."""

from prefect.exceptions import EventTooLarge
from prefect.settings import PREFECT_API_URL, temporary_settings

from changeflow.adapters import prefect_records
from changeflow.adapters.prefect_records import announce_records

PAYLOAD = {"store": "sqlite:////tmp/records.db", "seq": 2, "heads": {"CHG-0001": [2, "ab" * 32]}, "signature": "c2ln"}


def test_a_checkpoint_too_big_for_an_event_goes_without_its_heads(monkeypatch):
    sent = []

    def emit(event, resource, payload):
        if "heads" in payload:
            raise EventTooLarge(2_000_000, 1_500_000)
        sent.append((event, resource["prefect.resource.id"], payload))
        return object()

    monkeypatch.setattr(prefect_records, "emit_event", emit)
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert announce_records("checkpoint", PAYLOAD)
    assert sent == [
        (
            "changeflow.records.checkpoint",
            sent[0][1],
            {"store": PAYLOAD["store"], "seq": 2, "signature": "c2ln", "heads_omitted": 1},
        )
    ]
    assert sent[0][1].startswith("changeflow.records.")


def test_no_prefect_or_a_prefect_that_fails_never_fails_the_caller(monkeypatch):
    def down(**_):
        raise RuntimeError("connection refused")

    monkeypatch.setattr(prefect_records, "emit_event", down)
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert announce_records("checkpoint", PAYLOAD) is False
    called = []
    monkeypatch.setattr(prefect_records, "emit_event", lambda **kwargs: called.append(kwargs))
    with temporary_settings(restore_defaults={PREFECT_API_URL}):  # no server configured: not even tried
        assert announce_records("checkpoint", PAYLOAD) is False and called == []
