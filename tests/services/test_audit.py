"""The auditor's walk, and what every executor checks before it acts: an intact, signed history verifies;
a version or the current record rewritten in the database, a chain recomputed without the executor's
key, versions signed by a key that is no executor's, a deleted record and a chain cut short are each named."""

import io
import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from changeflow.adapters.sql_records import SqlRecordStore
from changeflow.domain.history import link_digest
from changeflow.domain.record import ChangeRecord, State
from changeflow.domain.request import Risk
from changeflow.exceptions import InvalidSettings, RecordTampered
from changeflow.services.audit import VersionSeals, audit, export, read_checkpoint, trusted
from changeflow.settings.loader import load_change_request
from changeflow.signing import PrivateKey, generate_key
from tests.conftest import EXAMPLES
from tests.database_admin import drop_append_only

NOW = datetime.now(timezone.utc)


@pytest.fixture()
def executor(tmp_path) -> PrivateKey:
    generate_key(tmp_path / "executor.pem")
    return PrivateKey.load(tmp_path / "executor.pem")


@pytest.fixture()
def seals(executor) -> VersionSeals:
    return VersionSeals({"worker": executor.public})


def filled(url: str, signer=None) -> SqlRecordStore:
    store = SqlRecordStore(url, signer=signer)
    base = load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml")
    for i in range(3):
        record = ChangeRecord.open(base.model_copy(update={"id": f"CHG-{i:04d}"}), Risk.MEDIUM, NOW)
        store.save(record)
        record.transition(State.ASSESSED, NOW, "risk medium")
        store.save(record)
    return store


def test_an_untouched_history_is_intact_and_exported_whole(tmp_path, executor, seals):
    store = filled(f"sqlite:///{tmp_path / 'r.db'}", executor)
    report = audit(store, seals=seals)
    assert (report.records, report.versions, report.breaks, report.signatures_checked) == (3, 6, [], True)
    assert sorted(v.seq for i in range(3) for v in store.history(f"CHG-{i:04d}")) == [1, 2, 3, 4, 5, 6]
    bundle = io.StringIO()
    assert export(store, bundle, executor) == 7
    lines = [json.loads(line) for line in bundle.getvalue().splitlines()]
    assert [line["version"] for line in lines[:-1]] == [1, 2] * 3
    assert lines[-1]["heads"]["CHG-0001"] == {"version": 2, "sha256": store.history("CHG-0001")[-1].sha256}
    assert read_checkpoint(bundle.getvalue(), seals).seq == 6


def test_a_rewritten_version_and_a_rewritten_current_record_are_named(tmp_path):
    store = filled(f"sqlite:///{tmp_path / 'r.db'}")
    drop_append_only(store.engine)
    with store.engine.begin() as db:
        db.execute(
            text("UPDATE change_record_versions SET writer = 'carol' WHERE change_id = 'CHG-0001' AND version = 2")
        )
        forged = store.load("CHG-0002").model_copy(update={"outcome": "closed by nobody"}).model_dump_json()
        db.execute(text("UPDATE change_records SET content = :c WHERE id = 'CHG-0002'"), {"c": forged})
    report = audit(store)
    assert [(b.change_id, b.version) for b in report.breaks] == [("CHG-0001", 2), ("CHG-0002", 2)]
    assert "rewritten" in report.breaks[0].reason and "in place" in report.breaks[1].reason


def _rewrite_chain(store: SqlRecordStore, change_id: str, outcome: str) -> None:
    """What a database writer without the executor's key can do: rewrite every version and recompute
    every digest, so the SHA-256 chain alone holds again."""
    drop_append_only(store.engine)
    previous = "0" * 64
    with store.engine.begin() as db:
        for version in store.history(change_id):
            content = version.record().model_copy(update={"outcome": outcome}).model_dump_json()
            digest = link_digest(previous, change_id, version.version, version.writer, content)
            db.execute(
                text(
                    "UPDATE change_record_versions SET content = :c, previous_sha256 = :p, sha256 = :d WHERE change_id = :i AND version = :v"
                ),
                {"c": content, "p": previous, "d": digest, "i": change_id, "v": version.version},
            )
            previous = digest
        db.execute(
            text("UPDATE change_records SET content = :c, sha256 = :d WHERE id = :i"),
            {"c": content, "d": previous, "i": change_id},
        )


def test_a_chain_recomputed_without_the_executor_key_is_refused_by_every_executor(tmp_path, executor, seals):
    store = filled(f"sqlite:///{tmp_path / 'r.db'}", executor)
    _rewrite_chain(store, "CHG-0001", "forged")
    assert audit(store, ["CHG-0001"]).breaks == []  # the digests alone are fooled
    report = audit(store, seals=seals)
    assert [(b.change_id, b.version) for b in report.breaks] == [("CHG-0001", 1)]
    assert "signature does not verify" in report.breaks[0].reason
    with pytest.raises(RecordTampered, match="CHG-0001"):
        trusted(store, "CHG-0001", seals)
    assert trusted(store, "CHG-0002", seals).id == "CHG-0002"


def test_versions_signed_by_the_requesters_own_key_or_unsigned_are_not_an_executors(tmp_path, executor, seals):
    generate_key(tmp_path / "mallory.pem")
    theirs = filled(f"sqlite:///{tmp_path / 'r.db'}", PrivateKey.load(tmp_path / "mallory.pem"))
    assert "no executor of the governance bundle" in audit(theirs, ["CHG-0000"], seals=seals).breaks[0].reason
    unsigned = filled(f"sqlite:///{tmp_path / 'u.db'}")
    assert "not signed by an executor" in audit(unsigned, ["CHG-0000"], seals=seals).breaks[0].reason


def test_a_deleted_record_leaves_a_gap_and_a_truncated_chain_falls_short_of_the_checkpoint(tmp_path, executor, seals):
    store = filled(f"sqlite:///{tmp_path / 'r.db'}", executor)
    kept = io.StringIO()
    export(store, kept, executor)  # kept outside the database
    checkpoint = read_checkpoint(kept.getvalue(), seals)
    drop_append_only(store.engine)
    with store.engine.begin() as db:
        db.execute(text("DELETE FROM change_record_versions WHERE change_id = 'CHG-0001'"))
        db.execute(text("DELETE FROM change_records WHERE id = 'CHG-0001'"))
        db.execute(
            text("DELETE FROM change_record_versions WHERE change_id = 'CHG-0002' AND version = 2")
        )  # the globally last version
        head = store.history("CHG-0002")[0]
        db.execute(
            text("UPDATE change_records SET content = :c, version = 1, sha256 = :d WHERE id = 'CHG-0002'"),
            {"c": head.content, "d": head.sha256},
        )
    report = audit(store, seals=seals)
    assert [b.reason for b in report.breaks] == [
        "versions 3..4 of the global sequence are missing (a deleted record or version)"
    ]
    named = {(b.change_id, b.reason.split(" (")[-1]) for b in audit(store, seals=seals, checkpoint=checkpoint).breaks}
    assert ("CHG-0001", "deleted)") in named and ("CHG-0002", "truncated)") in named
    one = audit(
        store, ["CHG-0000"], seals=seals, checkpoint=checkpoint
    )  # one record asked for: the checkpoint still names the others
    assert {(b.change_id, b.reason.split(" (")[-1]) for b in one.breaks} == {
        ("CHG-0001", "deleted)"),
        ("CHG-0002", "truncated)"),
        ("(sequence)", "the latest versions were deleted: truncated)"),
    }


def test_a_checkpoint_not_signed_by_an_executor_is_refused(tmp_path, executor, seals):
    store = filled(f"sqlite:///{tmp_path / 'r.db'}", executor)
    generate_key(tmp_path / "mallory.pem")
    forged = io.StringIO()
    export(store, forged, PrivateKey.load(tmp_path / "mallory.pem"))
    with pytest.raises(InvalidSettings, match="not a valid executor signature"):
        read_checkpoint(forged.getvalue(), seals)


def test_a_chain_truncated_after_a_kept_checkpoint_is_refused_by_every_executor(tmp_path, executor, seals):
    """The real database: its chain heads and highest sequence number read cheaply, a checkpoint kept, then
    an administrator deletes the globally last version (no gap shows) and rewinds the current row."""
    from changeflow.services.checkpoints import keep_checkpoint, newest

    store = filled(f"sqlite:///{tmp_path / 'r.db'}", executor)
    assert store.max_seq() == 6
    assert [(h.change_id, h.version, h.seq) for h in store.chain_heads(None, 2)] == [
        ("CHG-0000", 2, 2),
        ("CHG-0001", 2, 4),
    ]
    assert [h.sha256 for h in store.chain_heads("CHG-0001", 10)] == [store.history("CHG-0002")[-1].sha256]
    folder = tmp_path / "checkpoints"
    kept = keep_checkpoint(store, executor, seals, folder)
    assert kept.checkpoint.store == store.identity and trusted(store, "CHG-0002", seals, folder).state is State.ASSESSED
    drop_append_only(store.engine)
    with store.engine.begin() as db:
        db.execute(text("DELETE FROM change_record_versions WHERE change_id = 'CHG-0002' AND version = 2"))
        head = store.history("CHG-0002")[0]
        db.execute(
            text("UPDATE change_records SET content = :c, version = 1, sha256 = :d WHERE id = 'CHG-0002'"),
            {"c": head.content, "d": head.sha256},
        )
    assert (
        audit(store, seals=seals).breaks == []
        and trusted(store, "CHG-0002", seals, tmp_path / "none").state is State.REQUESTED
    )
    with pytest.raises(
        RecordTampered,
        match=f"CHG-0002: its chain ends at version 1, checkpoint {kept.path.name} saw version 2: truncated",
    ):
        trusted(store, "CHG-0002", seals, folder)
    with pytest.raises(
        RecordTampered, match="CHG-0000: truncated since checkpoint .*sequence 6; the database's end at 5"
    ):
        trusted(store, "CHG-0000", seals, folder)
    report = audit(store, ["CHG-0000"], seals=seals, checkpoint=newest(folder, store, seals)[0])
    assert [(b.change_id, b.version) for b in report.breaks] == [("CHG-0002", 1), ("(sequence)", 5)]


def test_a_database_is_named_for_its_checkpoints_without_user_or_password():
    """The worker's role and an auditor's find the same checkpoints; no credential lands in a file or event."""
    from types import SimpleNamespace

    from sqlalchemy.engine import make_url

    from changeflow.adapters.sql_heads import ChainHeadReads

    def named(url: str) -> str:
        reads = ChainHeadReads()
        reads.engine = SimpleNamespace(url=make_url(url))
        return reads.identity

    assert (
        named("postgresql+psycopg://worker:secret@db.example:5432/records")
        == named("postgresql+psycopg://auditor@db.example:5432/records")
        == "postgresql+psycopg://db.example:5432/records"
    )
    assert named("sqlite:////srv/changeflow/records.db") == "sqlite:////srv/changeflow/records.db"
