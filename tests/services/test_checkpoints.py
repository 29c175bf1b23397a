"""Signed checkpoints of every chain head, kept outside the database: an executor refuses a record cut
short or rewritten since the newest one, and every record once the database's versions end below its
sequence (the globally last versions deleted: no gap shows); a checkpoint no executor signed is reported
and ignored; a database that only grew is trusted and checkpointed again."""

import json
import logging
from datetime import datetime, timezone

import pytest

from changeflow.domain.record import ChangeRecord, State
from changeflow.domain.request import Risk
from changeflow.exceptions import RecordTampered
from changeflow.services.audit import VersionSeals, audit, trusted
from changeflow.services.checkpoints import Checkpoint, keep_checkpoint, newest, read_checkpoint, store_folder
from changeflow.settings.loader import load_change_request
from changeflow.signing import PrivateKey, generate_key
from tests.conftest import EXAMPLES
from tests.fakes import FakeRecordStore

NOW = datetime.now(timezone.utc)


def key(tmp_path, name: str) -> PrivateKey:
    generate_key(tmp_path / f"{name}.pem")
    return PrivateKey.load(tmp_path / f"{name}.pem")


@pytest.fixture()
def executor(tmp_path) -> PrivateKey:
    return key(tmp_path, "executor")


@pytest.fixture()
def seals(executor) -> VersionSeals:
    return VersionSeals({"worker": executor.public})


def record(change_id: str) -> ChangeRecord:
    base = load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml")
    return ChangeRecord.open(base.model_copy(update={"id": change_id}), Risk.MEDIUM, NOW)


def grow(store: FakeRecordStore, change_id: str, state: State = State.ASSESSED) -> None:
    current = store.load(change_id) if change_id in store.versions else record(change_id)
    if change_id in store.versions:
        current.transition(state, NOW, "test")
    store.save(current)


@pytest.fixture()
def store(executor) -> FakeRecordStore:
    """Three records of two versions each, saved in turn: CHG-0002's version 2 is the globally last."""
    store = FakeRecordStore(signer=executor)
    for i in range(3):
        grow(store, f"CHG-{i:04d}")
        grow(store, f"CHG-{i:04d}")
    return store


def test_a_chain_truncated_after_a_checkpoint_is_refused_and_no_later_checkpoint_launders_it(
    tmp_path, store, executor, seals
):
    kept = keep_checkpoint(store, executor, seals, tmp_path / "checkpoints")
    assert (
        kept.written and kept.path.parent == store_folder(tmp_path / "checkpoints", store) and kept.checkpoint.seq == 6
    )
    store.versions["CHG-0001"].pop()  # a database writer deletes the record's last version: a valid, shorter chain
    assert (
        trusted(store, "CHG-0001", seals, tmp_path / "nowhere").state is State.REQUESTED
    )  # without the checkpoint it would pass
    with pytest.raises(
        RecordTampered,
        match=rf"CHG-0001: its chain ends at version 1, checkpoint {kept.path.name} saw version 2: truncated",
    ):
        trusted(store, "CHG-0001", seals, tmp_path / "checkpoints")
    assert trusted(store, "CHG-0000", seals, tmp_path / "checkpoints").id == "CHG-0000"  # the others still act
    refused = []
    with pytest.raises(
        RecordTampered,
        match=r"lost versions since checkpoint .*CHG-0001: the checkpoint has version 2; the chain ends at 1 \(truncated\)",
    ):
        keep_checkpoint(
            store, executor, seals, tmp_path / "checkpoints", publish=lambda what, payload: refused.append(what)
        )
    assert refused == ["checkpoint-refused"] and len(list(kept.path.parent.iterdir())) == 1  # nothing new written


def test_a_head_rewritten_since_the_checkpoint_is_refused(tmp_path, store, executor, seals):
    keep_checkpoint(store, executor, seals, tmp_path)
    store.versions["CHG-0001"].pop()
    grow(store, "CHG-0001", State.REJECTED)  # a different version 2, even one an executor signed
    with pytest.raises(
        RecordTampered, match="version 2 is not the one checkpoint .* saw: rewritten since that checkpoint"
    ):
        trusted(store, "CHG-0001", seals, tmp_path)
    with pytest.raises(RecordTampered, match="this version is not the one the checkpoint saw"):
        keep_checkpoint(store, executor, seals, tmp_path)


def test_the_globally_last_versions_deleted_leave_no_gap_but_fall_below_the_checkpoint(
    tmp_path, store, executor, seals
):
    keep_checkpoint(store, executor, seals, tmp_path)
    store.versions["CHG-0002"].pop()  # seq 6: the sequence 1..5 shows no gap
    assert audit(store, seals=seals).breaks == []  # without a checkpoint nothing is visible
    with pytest.raises(
        RecordTampered, match="CHG-0000: truncated since checkpoint .*sequence 6; the database's end at 5"
    ):
        trusted(store, "CHG-0000", seals, tmp_path)  # whose versions went is unknown: no record is acted on
    with pytest.raises(RecordTampered, match="CHG-0002: its chain ends at version 1, .*: truncated"):
        trusted(store, "CHG-0002", seals, tmp_path)


def test_a_record_deleted_after_the_checkpoint_leaves_a_gap_the_next_checkpoint_refuses(
    tmp_path, store, executor, seals
):
    keep_checkpoint(store, executor, seals, tmp_path)
    grow(store, "CHG-0005")
    grow(store, "CHG-0006")
    del store.versions["CHG-0005"]  # created and deleted between two checkpoints: seq 7 is missing
    with pytest.raises(RecordTampered, match=r"versions 7\.\.7 of the global sequence are missing"):
        keep_checkpoint(store, executor, seals, tmp_path)


def test_a_deleted_record_refuses_the_next_checkpoint_and_only_records_that_moved_are_read(tmp_path, executor, seals):
    store = FakeRecordStore(signer=executor)
    for i in range(2500):  # more than two pages of heads
        grow(store, f"CHG-{i:05d}")
    keep_checkpoint(store, executor, seals, tmp_path)
    read, history = [], store.history
    store.history = lambda change_id: read.append(change_id) or history(change_id)
    grow(store, "CHG-00042", State.REJECTED)
    assert keep_checkpoint(store, executor, seals, tmp_path).checkpoint.heads["CHG-00042"][0] == 2 and read == [
        "CHG-00042"
    ]
    del store.versions["CHG-00007"]
    with pytest.raises(
        RecordTampered, match=r"CHG-00007: the checkpoint has this record; the database does not \(deleted\)"
    ):
        keep_checkpoint(store, executor, seals, tmp_path)


def test_checkpoints_no_executor_signed_are_reported_and_ignored(tmp_path, store, executor, seals, caplog):
    folder = store_folder(tmp_path, store)
    keep_checkpoint(
        store, key(tmp_path, "mallory"), VersionSeals({"mallory": key(tmp_path, "mallory").public}), tmp_path
    )
    unsigned = Checkpoint(seq=99, heads={"CHG-0001": (9, "0" * 64)}, store=store.identity, written_at=NOW.isoformat())
    (folder / "checkpoint-99999999T000000.000000Z-seq000000000099.json").write_text(unsigned.line())
    store.versions["CHG-0001"].pop()
    with caplog.at_level(logging.WARNING, logger="changeflow.checkpoints"):
        assert (
            trusted(store, "CHG-0001", seals, tmp_path).id == "CHG-0001"
        )  # neither is trusted: nothing to compare with
    assert newest(tmp_path, store, seals) is None
    assert (
        sum(
            "is not signed by an executor of the governance bundle: ignored, not trusted" in r.message
            for r in caplog.records
        )
        == 2
    )


def test_a_forged_newest_checkpoint_does_not_hide_the_genuine_one_before_it(tmp_path, store, executor, seals):
    genuine = keep_checkpoint(store, executor, seals, tmp_path)
    forged = genuine.checkpoint.model_copy(update={"heads": {}, "seq": 0})  # claims nothing: would let every cut pass
    (genuine.path.parent / "checkpoint-99999999T000000.000000Z-seq000000000000.json").write_text(forged.line())
    store.versions["CHG-0001"].pop()
    with pytest.raises(RecordTampered, match=f"checkpoint {genuine.path.name} saw version 2"):
        trusted(store, "CHG-0001", seals, tmp_path)


def test_growth_after_a_checkpoint_is_trusted_and_checkpointed_again(tmp_path, store, executor, seals):
    announced = []
    first = keep_checkpoint(
        store, executor, seals, tmp_path, publish=lambda what, payload: announced.append((what, payload))
    )
    grow(store, "CHG-0001", State.REJECTED)
    grow(store, "CHG-0007")
    for change_id in ("CHG-0000", "CHG-0001", "CHG-0007"):
        assert trusted(store, change_id, seals, tmp_path).id == change_id
    second = keep_checkpoint(
        store, executor, seals, tmp_path, publish=lambda what, payload: announced.append((what, payload))
    )
    assert (
        second.written
        and second.checkpoint.seq == 8
        and second.checkpoint.heads["CHG-0001"][0] == 3
        and "CHG-0007" in second.checkpoint.heads
    )
    assert newest(tmp_path, store, seals)[1] == second.path
    again = keep_checkpoint(store, executor, seals, tmp_path)
    assert (again.written, again.path) == (False, second.path)  # nothing changed: nothing written
    assert [what for what, _ in announced] == ["checkpoint", "checkpoint"]
    payload = announced[1][1]  # the event carries the signed checkpoint: it verifies alone
    assert (
        Checkpoint.model_validate(payload).signed_by(seals)
        and payload["heads_sha256"] == second.checkpoint.heads_sha256()
    )
    assert (
        read_checkpoint(second.path.read_text(), seals) == second.checkpoint
    )  # the file is what `audit verify --checkpoint` reads
    assert json.loads(second.path.read_text())["heads"]["CHG-0007"]["version"] == 1


def test_only_the_newest_checkpoints_are_kept(tmp_path, store, executor, seals):
    for i in range(5):
        grow(store, f"CHG-01{i:02d}")
        keep_checkpoint(store, executor, seals, tmp_path, keep=3)
    files = sorted(p.name for p in store_folder(tmp_path, store).iterdir())
    assert len(files) == 3 and files[-1].endswith(f"-seq{store.max_seq():012d}.json")
    assert not any(p.name.startswith(".") for p in store_folder(tmp_path, store).iterdir())  # no temporary file left


def test_checkpoints_are_kept_per_database(tmp_path, store, executor, seals):
    keep_checkpoint(store, executor, seals, tmp_path)
    other = FakeRecordStore(signer=executor)
    grow(other, "CHG-0001")
    assert newest(tmp_path, other, seals) is None and trusted(other, "CHG-0001", seals, tmp_path).id == "CHG-0001"
