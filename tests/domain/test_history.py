"""The record history: queries mean what they say, and the version chain shows any rewrite."""

from datetime import datetime, timedelta, timezone

from changeflow.domain.history import GENESIS, RecordQuery, RecordVersion, link_digest, verify_chain
from changeflow.domain.record import ChangeRecord, State, Transition
from changeflow.domain.request import ChangeType, Risk

AT = datetime(2026, 11, 25, 22, 0, tzinfo=timezone.utc)


def record(change_id="CHG-0001", model="m", state=State.REQUESTED, at=AT, slot=None):
    r = ChangeRecord(
        id=change_id,
        description="d",
        type=ChangeType.NORMAL,
        kind="model_deployment",
        model=model,
        requester="alice",
        risk=Risk.MEDIUM,
    )
    r.transitions.append(Transition(from_state=None, to_state=State.REQUESTED, at=at, reason="requested"))
    r.state, r.slot_start = state, slot
    return r


def chain(*contents: str) -> list[RecordVersion]:
    versions, previous = [], GENESIS
    for number, content in enumerate(contents, 1):
        digest = link_digest(previous, "CHG-0001", number, "w", content)
        versions.append(
            RecordVersion(
                change_id="CHG-0001",
                version=number,
                saved_at=AT,
                writer="w",
                state=State.REQUESTED,
                previous_sha256=previous,
                sha256=digest,
                content=content,
            )
        )
        previous = digest
    return versions


def test_an_intact_chain_verifies():
    assert verify_chain(chain("a", "b", "c")) is None


def test_a_rewritten_version_is_the_first_broken_link():
    versions = chain("a", "b", "c")
    versions[1] = versions[1].model_copy(update={"content": "B"})
    broken = verify_chain(versions)
    assert (broken.version, "rewritten" in broken.reason) == (2, True)


def test_a_rewrite_that_recomputes_its_own_digest_breaks_the_next_link():
    versions = chain("a", "b", "c")
    forged = link_digest(versions[0].sha256, "CHG-0001", 2, "w", "B")
    versions[1] = versions[1].model_copy(update={"content": "B", "sha256": forged})
    assert verify_chain(versions).version == 3


def test_a_removed_version_and_a_changed_writer_are_seen():
    versions = chain("a", "b", "c")
    assert "missing" in verify_chain([versions[0], versions[2]]).reason
    assert verify_chain([versions[0].model_copy(update={"writer": "mallory"})]).version == 1


def test_queries_narrow_by_model_state_time_and_slot():
    r = record(model="fraud", state=State.SCHEDULED, slot=AT + timedelta(hours=1))
    assert RecordQuery().matches(r, AT)
    assert RecordQuery(
        model="fraud", states=frozenset({State.SCHEDULED}), types=frozenset({ChangeType.NORMAL})
    ).matches(r, AT)
    assert not RecordQuery(model="digits").matches(r, AT)
    assert not RecordQuery(states=frozenset({State.CLOSED})).matches(r, AT)
    assert RecordQuery(opened_from=AT, opened_until=AT + timedelta(seconds=1)).matches(r, AT)
    assert not RecordQuery(opened_until=AT).matches(r, AT)  # the end is open
    assert not RecordQuery(updated_since=AT + timedelta(seconds=1)).matches(r, AT)
    assert RecordQuery(slot_from=AT, slot_until=AT + timedelta(hours=2)).matches(r, AT)
    assert not RecordQuery(slot_from=AT).matches(record(), AT)  # no slot: not in any slot range


def test_overlapping_executions_of_one_model_are_found():
    from changeflow.domain.history import same_model_overlaps
    from changeflow.domain.record import Phase, StepRecord

    def executed(change_id, model, start_min, end_min):
        r = record(change_id, model=model)
        r.execution_steps.append(
            StepRecord(name="apply", phase=Phase.EXECUTION, started_at=AT + timedelta(minutes=start_min))
        )
        r.verification_steps.append(
            StepRecord(
                name="smoke",
                phase=Phase.VERIFICATION,
                started_at=AT + timedelta(minutes=start_min),
                ended_at=AT + timedelta(minutes=end_min),
            )
        )
        return r

    serial = [executed("CHG-1", "a", 0, 5), executed("CHG-2", "a", 5, 9), executed("CHG-3", "b", 1, 8)]
    assert same_model_overlaps(serial) == []
    assert same_model_overlaps(serial + [executed("CHG-4", "a", 8, 12)]) == [("CHG-2", "CHG-4")]
    assert same_model_overlaps([record("CHG-5"), record("CHG-6")]) == []  # never executed: no span
