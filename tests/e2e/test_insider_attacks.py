"""Insiders against the team's executor (#23), through the real deployments and the session's worker
(``change_worker``: the change flows on a real ``prefect server``, one worker with its own environment file,
sealed governance bundle, record-signing key and clock) and the ``changeflow`` command, with production (a
real Triton) asked afterwards each time:

- forged decisions sent through the Prefect resume path to the run the worker executes;
- a requester who enrols her own key pair and authenticator as "carol" and approves with them;
- a deleted record and a chain cut short, against a kept ``audit export``;
- records saved with the store's own API by someone without the executor key (labelled, unsigned approvals);
- a chain rewritten in the database with its digests recomputed, and a current row rewritten in place.

To keep the wall time short, the two governed runs start together (``waiting``) and the executor runs for the
written and rewritten records are created at once (``tampered``). Records stay in the session's database (IDs
CHG-08xx), some broken on purpose: an audit of the whole database names its first broken link only, so the
exact breaks are asserted for named records.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from tests.e2e.test_cli import CLI, ROOT, run

pytestmark = pytest.mark.triton
GOLDEN = str(ROOT / "examples" / "golden" / "classifier.json")
X = {"INPUT": np.zeros((1, 4), np.float32)}
SLOT = (
    datetime(2026, 12, 5, 0, 0, tzinfo=timezone.utc),
    datetime(2026, 12, 5, 4, 0, tzinfo=timezone.utc),
)  # a maintenance window of the calendar


def deploy_v2(change_id: str) -> dict:
    """A normal change that would move production's classifier from v1 to v2 if it were ever executed."""
    request = yaml.safe_load((ROOT / "examples" / "changes" / "normal-deploy-v2.yaml").read_text())
    request["change"]["golden_set"] = GOLDEN
    return {**request, "id": change_id}


@pytest.fixture(scope="module")
def prefect(prefect_api):
    """This process's Prefect client talks to the session's server (as the CLI's does through cli_env)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: prefect_api}):
        yield


def serving_v1(triton_process):
    """Production's classifier as its repository says (v1); returns ``asked()``: what production says now."""
    from changeflow.adapters.config_store import LocalConfigStore
    from changeflow.adapters.triton import TritonModelServer

    server, repository = TritonModelServer(triton_process.http_url), LocalConfigStore(triton_process.repository)
    server.load("classifier", repository.read_config("classifier"))
    return lambda: (
        server.ready_versions("classifier"),
        server.infer("classifier", X).model_version,
        repository.read_config_text("classifier"),
    )


@pytest.fixture
def production(triton_process):
    """Production asked before the test: ``asked()`` says it again (ready versions of classifier, the version
    that answers an inference, its config.pbtxt: the desired state) and must equal ``before``."""
    asked = serving_v1(triton_process)
    before = asked()
    assert before[:2] == ([1], 1)
    return SimpleNamespace(asked=asked, before=before)


@pytest.fixture
def store(records_db_url):
    from changeflow.adapters.sql_records import SqlRecordStore

    return SqlRecordStore(records_db_url)  # reads only (this process is not the executor)


@pytest.fixture
def auditor_env(cli_env, change_worker):
    """An auditor's command line: the executors' sealed bundle pinned by its maintainer key, no executor key."""
    env = {k: v for k, v in cli_env.items() if k != "CHANGEFLOW_EXECUTOR_KEY"}
    return {
        **env,
        "CHANGEFLOW_GOVERNANCE": change_worker["CHANGEFLOW_GOVERNANCE"],
        "CHANGEFLOW_GOVERNANCE_KEYS": change_worker["CHANGEFLOW_GOVERNANCE_KEYS"],
    }


def executor_store(records_db_url: str, change_worker: dict):
    """The store as the worker writes it: each version signed with its key (the executor this test plays)."""
    from changeflow.adapters.sql_records import SqlRecordStore
    from changeflow.signing import PrivateKey

    return SqlRecordStore(records_db_url, signer=PrivateKey.load(Path(change_worker["CHANGEFLOW_EXECUTOR_KEY"])))


# --- governed runs the worker executes -----------------------------------------------------------


@pytest.fixture(scope="module")
def waiting(prefect, prefect_api, records_db_url, change_worker, triton_process, staging_process, tmp_path_factory):
    """Two normal changes (classifier v1 -> v2) submitted with `changeflow submit` at once, each a run of
    normal-change/normal the worker executes: CHG-0811 by a requester with the team's command line, CHG-0821
    by alice from a shell whose approver settings point at her own folder. Any run still waiting at the end
    is ended by a signed rejection."""
    folder = tmp_path_factory.mktemp("insiders")
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "CHANGEFLOW_RECORDS_URL": records_db_url,
    }
    hers = folder / "alice"
    her_env = {
        **{k: v for k, v in env.items() if k != "CHANGEFLOW_EXECUTOR_KEY"},
        "CHANGEFLOW_HOME": str(hers),
        "CHANGEFLOW_KEYS": str(hers / "keys"),
        "CHANGEFLOW_APPROVER_KEYS": str(hers / "approver-keys.yaml"),
        "CHANGEFLOW_APPROVER_SECRETS": str(hers / "secrets.yaml"),
    }
    environment_file = folder / "environment.yaml"
    environment_file.write_text(
        yaml.safe_dump(
            {
                "production": triton_process.endpoint("production").model_dump(mode="json"),
                "staging": staging_process.endpoint("staging").model_dump(mode="json"),
                "records": {},  # CHANGEFLOW_RECORDS_URL: the session's record database
            }
        )
    )
    serving_v1(triton_process)  # a deployment of v2 needs v1 serving
    runs = {}
    for change_id, shell in (("CHG-0811", env), ("CHG-0821", her_env)):
        path = folder / f"{change_id.lower()}.yaml"
        path.write_text(yaml.safe_dump(deploy_v2(change_id)))
        runs[change_id] = subprocess.Popen(
            [CLI, "submit", str(path), "--environment", str(environment_file), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=shell,
            cwd=folder,
        )
    yield SimpleNamespace(runs=runs, hers=hers, her_env=her_env)
    from changeflow.adapters.prefect_approvals import paused_run, submit_decision

    for change_id, submitted in runs.items():
        if submitted.poll() is None and paused_run(change_id) is not None:  # a test that stopped half-way: end its run
            submit_decision(
                change_id,
                "dave",
                False,
                "test teardown",
                proof=lambda c=change_id: signed_proof(records_db_url, c, "dave", False),
            )
        try:
            submitted.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pass  # the test's own failure says why
        finally:
            submitted.kill()


def ended(submitted: subprocess.Popen) -> tuple[int, dict]:
    stdout, stderr = submitted.communicate(timeout=120)
    assert stdout.strip(), stderr[-2000:]
    return submitted.returncode, json.loads(stdout.strip().splitlines()[-1])


def decisions_on(store, change_id: str, count: int, timeout_s: float = 60) -> list:
    """The record's decisions once it holds ``count`` of them (the worker judged the last one sent)."""
    deadline = time.monotonic() + timeout_s
    while len(approvals := store.load(change_id).approvals) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return approvals


def resume(store, change_id: str, sent: dict) -> None:
    """One decision sent to the run's pause through the Prefect API exactly as given (the resume path
    `changeflow approve` and the UI's form use), then waited for on the record."""
    from prefect.flow_runs import resume_flow_run

    from changeflow.adapters.prefect_approvals import wait_for_pause

    count = len(store.load(change_id).approvals)
    resume_flow_run(wait_for_pause(change_id, timeout_s=90), run_input=sent)
    assert len(decisions_on(store, change_id, count + 1)) == count + 1, (
        f"{change_id}: the worker recorded no decision for {sent}"
    )


def resume_unrecorded(change_id: str, sent: dict) -> None:
    """``sent`` to the run's pause through the Prefect API; raises when Prefect refuses it."""
    from prefect.flow_runs import resume_flow_run

    from changeflow.adapters.prefect_approvals import wait_for_pause

    resume_flow_run(wait_for_pause(change_id, timeout_s=90), run_input=sent)


def signed_by(approver: str, change_id: str, approve: bool, digest: str) -> str:
    """``approver``'s signature with their own key (the session's approvers: the keys the bundle lists)."""
    from changeflow.adapters.credentials import sign
    from changeflow.domain.identity import decision_message
    from changeflow.settings.defaults import approver_keys_dir

    return sign(approver_keys_dir() / f"{approver}.pem", decision_message(change_id, approve, digest, approver))


def signed_proof(records_db_url: str, change_id: str, approver: str, approve: bool) -> dict:
    from changeflow.adapters.sql_records import SqlRecordStore
    from changeflow.domain.identity import PLAN_DIGEST

    digest = SqlRecordStore(records_db_url).load(change_id).attachments[PLAN_DIGEST]
    return {"plan_digest": digest, "signature": signed_by(approver, change_id, approve, digest)}


def test_forged_decisions_sent_to_the_workers_run_are_refused_recorded_and_nothing_executes(waiting, store, production):
    """Anyone holding the Prefect API credential can resume a paused run with any input: every forged
    decision is judged by the worker against the sealed bundle's keys and its own secrets, refused and kept
    on the record with why; one valid approval of two executes nothing, and a signed rejection ends it."""
    from changeflow.adapters.credentials import current_code
    from changeflow.adapters.prefect_approvals import wait_for_pause
    from changeflow.domain.identity import PLAN_DIGEST

    secrets = yaml.safe_load(Path(os.environ["CHANGEFLOW_APPROVER_SECRETS"]).read_text())  # the file the worker reads
    wait_for_pause("CHG-0811", timeout_s=120)
    d = store.load("CHG-0811").attachments[PLAN_DIGEST]
    codes = {}  # each code is read as it is sent: on a slow machine a code read at the start expires midway

    def now(who: str, ahead_s: float = 0.0) -> str:
        return current_code(secrets[who], time.time() + ahead_s)

    def carol_valid() -> dict:
        codes["used"] = now("carol")
        return {"approver": "carol", "code": codes["used"]}  # valid: counts (1 of 2)

    attempts = [
        lambda: {"approver": "carol"},  # a listed approver, no proof
        lambda: {"approver": "carol", "code": "000000" if now("carol") != "000000" else "111111"},  # a wrong code
        lambda: {"approver": "dave", "code": now("carol")},  # carol's code, dave's name
        lambda: {
            "approver": "dave",
            "signature": signed_by("dave", "CHG-0812", True, d),
        },  # dave's signature over another change
        lambda: {
            "approver": "dave",
            "signature": signed_by("dave", "CHG-0811", True, "e" * 64),
            "plan_digest": "e" * 64,
        },  # over another plan
        lambda: {"approver": "alice", "code": now("alice")},  # the requester
        lambda: {"approver": "mallory", "code": now("mallory")},  # not on the list
        carol_valid,
        lambda: {"approver": "CAROL", "code": codes["used"]},  # the same code again, the same person
        lambda: {"approver": "Ｃａｒｏｌ", "code": now("carol", 30)},  # a look-alike of carol
        lambda: {"approver": "frank", "code": codes["used"]},  # carol's used code as frank
    ]
    for attempt in attempts:
        resume(
            store,
            "CHG-0811",
            {"decision": "approve", "comment": "", "code": "", "signature": "", "plan_digest": d, **attempt()},
        )
    for unchosen in ({}, {"decision": "maybe"}):  # no choice: Prefect refuses it against the form's schema
        with pytest.raises(RuntimeError, match="decision"):
            resume_unrecorded(
                "CHG-0811", {"approver": "frank", "code": current_code(secrets["frank"]), "plan_digest": d, **unchosen}
            )
    assert len(store.load("CHG-0811").approvals) == 11  # the worker never saw them
    resume(
        store,
        "CHG-0811",
        {
            "decision": "reject",
            "approver": "dave",
            "code": "",
            "plan_digest": d,
            "signature": signed_by("dave", "CHG-0811", False, d),
        },
    )
    code, result = ended(waiting.runs["CHG-0811"])
    assert (code, result["state"]) == (3, "rejected"), result

    record = store.load("CHG-0811")
    decisions = [(a.approver, a.decision, a.counted) for a in record.approvals]
    assert decisions == [
        ("carol", "approve", False),
        ("carol", "approve", False),
        ("dave", "approve", False),
        ("dave", "approve", False),
        ("dave", "approve", False),
        ("alice", "approve", False),
        ("mallory", "approve", False),
        ("carol", "approve", True),
        ("carol", "approve", False),
        ("carol", "approve", False),
        ("frank", "approve", False),
        ("dave", "reject", True),
    ], decisions
    reasons = [a.refusal for a in record.approvals]
    assert (
        "no proof of identity" in reasons[0]
        and "not carol's current code" in reasons[1]
        and "not dave's current code" in reasons[2]
    )
    assert (
        "not dave's over this change" in reasons[3] and "another plan" in reasons[4] and "cannot approve" in reasons[5]
    )
    assert (
        "not on the change advisory board list" in reasons[6]
        and "already approved" in reasons[8]
        and "already approved" in reasons[9]
    )
    assert "already used" in reasons[10] or "not frank's current code" in reasons[10]
    assert (record.approvals[7].proof, record.approvals[11].proof) == ("totp", "ed25519")
    assert all(a.proof == "" for a in record.approvals if not a.counted)
    assert record.transitions[-1].reason == "rejected by dave: nothing was touched" and not record.execution_steps
    assert production.asked() == production.before


def test_a_requester_who_enrols_her_own_carol_is_refused_and_the_enrolment_is_announced(
    waiting, store, change_worker, production
):
    """Alice (the requester) enrols a key pair and an authenticator under the name carol in her own folder
    (the command says the new key counts for nothing until a maintainer re-signs the bundle) and approves
    her change with them, signed and by code: the worker checks the sealed bundle's key and its own
    secrets, never hers, and records both refusals; the enrolment is logged in her folder and announced on
    the Prefect server. The real carol's signed rejection still counts."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    from changeflow.adapters.credentials import current_code
    from changeflow.adapters.prefect_approvals import submit_decision
    from changeflow.domain.identity import PLAN_DIGEST
    from changeflow.signing import key_id

    hers, her_env = waiting.hers, waiting.her_env
    enrolled = run("approvers", "enrol", "carol", "--no-qr", env=her_env)
    assert enrolled.returncode == 0 and "until then the new key counts for nothing there" in enrolled.stdout, (
        enrolled.stderr
    )
    her_key = yaml.safe_load((hers / "approver-keys.yaml").read_text())["approvers"]["carol"]["ed25519"]
    assert (
        her_key
        != yaml.safe_load((Path(change_worker["CHANGEFLOW_GOVERNANCE"]) / "keys.yaml").read_text())["approvers"][
            "carol"
        ]["ed25519"]
    )
    signed = run(
        "approve",
        "CHG-0821",
        "--approver",
        "carol",
        "--key",
        str(hers / "keys" / "carol.pem"),
        "--wait",
        "120",
        env=her_env,
    )
    assert signed.returncode == 0, signed.stderr  # sent: the worker judges it
    assert len(decisions_on(store, "CHG-0821", 1)) == 1
    d = store.load("CHG-0821").attachments[PLAN_DIGEST]
    her_secret = yaml.safe_load((hers / "secrets.yaml").read_text())["carol"]
    resume(
        store,
        "CHG-0821",
        {"decision": "approve", "approver": "carol", "code": current_code(her_secret), "plan_digest": d},
    )  # the UI form's way
    submit_decision(
        "CHG-0821",
        "carol",
        False,
        "not this week",
        wait_s=60,  # the real carol: her key is the bundle's
        proof=lambda: {"plan_digest": d, "signature": signed_by("carol", "CHG-0821", False, d)},
    )
    code, result = ended(waiting.runs["CHG-0821"])
    assert (code, result["state"]) == (3, "rejected"), result

    record = store.load("CHG-0821")
    assert [(a.approver, a.decision, a.counted) for a in record.approvals] == [
        ("carol", "approve", False),
        ("carol", "approve", False),
        ("carol", "reject", True),
    ]
    assert record.approvals[0].refusal == "carol: the signature is not carol's over this change, decision and plan"
    assert record.approvals[1].refusal == "carol: the one-time code is not carol's current code"
    assert record.approvals[2].proof == "ed25519" and not record.execution_steps
    log = [json.loads(line) for line in (hers / "enrolments.log").read_text().splitlines()]
    assert [(e["approver"], e["key_id"], e["replaced"]) for e in log] == [("carol", key_id(her_key), False)]
    announced = []
    for _ in range(40):  # the event reaches the server's event stream shortly after the command exits
        with get_client(sync_client=True) as client:
            events = client.read_events(
                EventFilter(
                    event=EventNameFilter(prefix=["changeflow.approver."]),
                    resource=EventResourceFilter(id=["changeflow.approver.carol"]),
                ),
                limit=50,
            ).events
        if announced := [
            (e.event, e.payload["approver"]) for e in events if e.payload.get("key_id") == key_id(her_key)
        ]:
            break
        time.sleep(0.25)
    # her secrets file had no carol before, so it is announced as an enrolment (the bundle's carol is not consulted)
    assert announced == [("changeflow.approver.enrolled", "carol")]
    assert production.asked() == production.before


# --- the record database as its administrator sees it ----------------------------------------------


def by_hand(store, change_id: str, to, **fields):
    """A record put in state ``to`` with the store's own API, as anyone with its credentials could (no gate
    passed); ``fields`` are on every version it saves."""
    from changeflow.domain.record import ChangeRecord, State
    from changeflow.domain.request import Risk
    from changeflow.services.recorder import Recorder, utc_now
    from changeflow.settings.loader import load_change_request

    request = load_change_request(ROOT / "examples" / "changes" / "normal-deploy-v2.yaml").model_copy(
        update={"id": change_id}
    )
    record = ChangeRecord.open(request, Risk.MEDIUM, utc_now())
    for name, value in fields.items():
        setattr(record, name, value)
    recorder = Recorder(record, store)
    for state in (State.ASSESSED, State.APPROVED, State.SCHEDULED, State.EXECUTING, State.VERIFYING):
        recorder.transition(state, "written by hand")
        if state is to:
            return recorder
    raise AssertionError(to)


def test_a_deleted_record_and_a_truncated_chain_are_named_and_the_cut_record_drives_no_executor(
    tmp_path, cli_env, auditor_env, records_db_url, change_worker, prefect, store, production
):
    """The worker keeps a signed checkpoint (`changeflow audit checkpoint`, what each safety-net run does)
    and an auditor an `audit export`; then the database administrator deletes CHG-0852 (its current row
    and every version) and cuts CHG-0851's chain back to its second version (its abort gone: approved
    again), the current row rewritten to match. They were the newest versions of the sequence, so no gap
    shows and every remaining version verifies: the kept checkpoints name both, and a rollback run of
    CHG-0851 is refused by the worker."""
    from changeflow.domain.record import State

    executor = executor_store(records_db_url, change_worker)
    cut = by_hand(executor, "CHG-0851", State.APPROVED)  # versions 1-2 of CHG-0851
    gone = by_hand(executor, "CHG-0852", State.ASSESSED)  # version 1 of CHG-0852
    gone.transition(State.REJECTED, "rejected by carol: nothing was touched")
    cut.transition(
        State.ABORTED, "refused before executing: the checklist failed"
    )  # version 3 of CHG-0851: the newest of all
    worker = {**cli_env, **change_worker}  # the executor's own configuration and key
    kept_by_worker, exported = (
        subprocess.Popen(
            [CLI, "audit", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=worker, cwd=ROOT
        )
        for args in (["checkpoint"], ["export", str(tmp_path / "kept.jsonl")])
    )  # the auditor's copy, signed by the executor key
    said = kept_by_worker.communicate(timeout=120)
    assert kept_by_worker.returncode == 0 and said[0].startswith("checkpoint written: "), said
    assert exported.wait(120) == 0, exported.communicate()
    folder = Path(said[0].split("checkpoint written: ", 1)[1].split()[0]).parent
    try:
        cut_and_checked(tmp_path, cli_env, auditor_env, change_worker, store, production, executor)
    finally:  # what a team does once the database is restored: the checkpoints of the lost state moved aside,
        for made in folder.glob("checkpoint-*"):  # so the session's later tests on this database are not refused
            made.unlink()


def cut_and_checked(tmp_path, cli_env, auditor_env, change_worker, store, production, executor) -> None:
    from sqlalchemy import text

    from changeflow.domain.record import State
    from changeflow.services.audit import VersionSeals, audit, audit_record, read_checkpoint
    from changeflow.signing import PrivateKey
    from tests.database_admin import drop_append_only

    drop_append_only(store.engine)
    with store.engine.begin() as db:
        head = (
            db.execute(text("SELECT * FROM change_record_versions WHERE change_id = 'CHG-0851' AND version = 2"))
            .mappings()
            .one()
        )
        db.execute(
            text(
                "DELETE FROM change_record_versions WHERE change_id = 'CHG-0852' OR (change_id = 'CHG-0851' AND version = 3)"
            )
        )
        db.execute(text("DELETE FROM change_records WHERE id = 'CHG-0852'"))
        db.execute(
            text(
                "UPDATE change_records SET content = :c, sha256 = :s, version = 2, state = :st, transitions = 3 WHERE id = 'CHG-0851'"
            ),
            {"c": head["content"], "s": head["sha256"], "st": head["state"]},
        )
    rollback = create_runs({"rollback CHG-0851": ("rollback/rollback", {"change_id": "CHG-0851"})})

    seals = VersionSeals({"local-executor": PrivateKey.load(Path(change_worker["CHANGEFLOW_EXECUTOR_KEY"])).public})
    assert (
        audit_record(store, "CHG-0851", seals)[1] is None and store.load("CHG-0851").state is State.APPROVED
    )  # the cut chain verifies
    kept = read_checkpoint((tmp_path / "kept.jsonl").read_text(), seals)
    assert kept.heads["CHG-0851"][0] == 3 and "CHG-0852" in kept.heads
    report = audit(store, ["CHG-0851"], None, seals, kept)  # one record, and every head that moved since the checkpoint
    assert [(b.change_id, b.version, b.reason) for b in report.breaks] == [
        ("CHG-0851", 2, "the checkpoint has version 3; the chain ends at 2 (truncated)"),
        ("CHG-0852", 2, "the checkpoint has this record; the database does not (deleted)"),
        (
            "(sequence)",
            kept.seq - 3,
            f"the checkpoint saw versions up to sequence {kept.seq}; the database's end at {kept.seq - 3} (the latest versions were deleted: truncated)",
        ),
    ], report.breaks
    one, every = (
        subprocess.Popen(
            [CLI, "audit", "verify", *which, "--checkpoint", str(tmp_path / "kept.jsonl")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=auditor_env,
            cwd=ROOT,
        )
        for which in (["CHG-0851"], ["--all"])
    )
    said = one.communicate(timeout=120)
    assert one.returncode == 8 and said[0].startswith(
        f"checkpoint: {tmp_path / 'kept.jsonl'} (sequence {kept.seq}, "
    ), said
    assert (
        said[1].strip()
        == "broken: CHG-0851 version 2: the checkpoint has version 3; the chain ends at 2 (truncated) (and 2 more record(s))"
    )
    said = every.communicate(
        timeout=120
    )  # the whole database: one line naming its first break (another record's may come first)
    assert every.returncode == 8 and said[1].startswith("broken: ") and len(said[1].strip().splitlines()) == 1, said
    assert re.search(r" \(and ([2-9]|\d\d+) more record\(s\)\)$", said[1].strip()), said  # these three breaks at least
    state = final_states(rollback)["rollback CHG-0851"]
    assert state.is_failed() and "RecordTampered: CHG-0851: its chain ends at version 2, checkpoint checkpoint-" in (
        state.message or ""
    ), state
    assert (
        "saw version 3: truncated since that checkpoint; no executor acts on it" in state.message
        and store.load("CHG-0851").state is State.APPROVED
    )
    assert production.asked() == production.before


def create_runs(runs: dict[str, tuple[str, dict]]) -> dict:
    """Runs of the deployments (``FLOW/DEPLOYMENT``) with these parameters, for the worker to pick up: their ids."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return {
            name: client.create_flow_run_from_deployment(
                client.read_deployment_by_name(deployment).id, parameters=parameters
            ).id
            for name, (deployment, parameters) in runs.items()
        }


def final_states(runs: dict, timeout_s: float = 180) -> dict:
    from prefect.client.orchestration import get_client

    states = {}
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        for name, run_id in runs.items():
            while (state := client.read_flow_run(run_id).state) is None or not state.is_final():
                assert time.monotonic() < deadline, (name, state)
                time.sleep(0.5)
            states[name] = state
    return states


@pytest.fixture(scope="module")
def tampered(prefect, records_db_url, change_worker, triton_process):
    """Records no executor may act on, each one an executor would act on if it believed it, and then the
    executors asked to: a run of rollback/rollback for CHG-0831, CHG-0841 and CHG-0842 and one of safety-net/safety-net
    (which settles orphans in flight: CHG-0832, CHG-0841, CHG-0842), created at once; `audit verify` of each
    record by an auditor meanwhile. Each claims production served v3 (the known-bad version) before it."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    from changeflow.adapters.sql_records import SqlRecordStore
    from changeflow.domain.record import Approval, State
    from changeflow.services.audit import VersionSeals, audit_record
    from changeflow.signing import PrivateKey

    serving_v1(triton_process)
    unsigned = SqlRecordStore(records_db_url)  # the store's own API in a process without the executor key
    executor = executor_store(records_db_url, change_worker)
    ended_process = subprocess.Popen(["true"])
    ended_process.wait()
    dead = {"host": socket.gethostname(), "pid": str(ended_process.pid), "flow_run_id": ""}  # an executor that has gone
    now = datetime.now(timezone.utc)
    labelled = [
        Approval(approver="carol", decision="approve", at=now, proof="ed25519", plan_digest="a" * 64),
        Approval(
            approver="dave",
            decision="approve",
            at=now,
            proof="ed25519",
            plan_digest="a" * 64,
            signature="c2lnbmVkIGJ5IGRhdmU=",
        ),
    ]
    by_hand(
        unsigned,
        "CHG-0831",
        State.SCHEDULED,
        approvals=labelled,
        slot_start=SLOT[0],
        slot_end=SLOT[1],
        serving_version_before=3,
    )
    by_hand(
        unsigned,
        "CHG-0832",
        State.VERIFYING,
        approvals=labelled,
        production_touched=True,
        serving_version_before=3,
        executor=dead,
    )
    by_hand(executor, "CHG-0841", State.VERIFYING, production_touched=True, serving_version_before=1, executor=dead)
    by_hand(executor, "CHG-0842", State.VERIFYING, production_touched=True, serving_version_before=1, executor=dead)
    seals = VersionSeals({"local-executor": PrivateKey.load(Path(change_worker["CHANGEFLOW_EXECUTOR_KEY"])).public})
    assert (
        audit_record(unsigned, "CHG-0841", seals)[1] is None and audit_record(unsigned, "CHG-0842", seals)[1] is None
    )  # genuine until now
    rewrite_chain(unsigned.engine, "CHG-0841", '"serving_version_before":1', '"serving_version_before":3')
    rewrite_in_place(unsigned.engine, "CHG-0842", '"serving_version_before":1', '"serving_version_before":3')
    versions = {i: len(unsigned.history(i)) for i in ("CHG-0831", "CHG-0832", "CHG-0841", "CHG-0842")}

    runs = create_runs(
        {
            **{f"rollback {i}": ("rollback/rollback", {"change_id": i}) for i in ("CHG-0831", "CHG-0841", "CHG-0842")},
            "safety net": ("safety-net/safety-net", {}),
        }
    )
    env = {
        **{k: v for k, v in os.environ.items() if k != "CHANGEFLOW_EXECUTOR_KEY"},
        "CHANGEFLOW_RECORDS_URL": records_db_url,
        "CHANGEFLOW_GOVERNANCE": change_worker["CHANGEFLOW_GOVERNANCE"],
        "CHANGEFLOW_GOVERNANCE_KEYS": change_worker["CHANGEFLOW_GOVERNANCE_KEYS"],
    }
    audits = {
        i: subprocess.Popen(
            [CLI, "audit", "verify", i], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
        )
        for i in versions
    }
    verified = {i: (p.wait(120), p.stderr.read().strip()) for i, p in audits.items()}
    states, logs = final_states(runs), []
    with get_client(sync_client=True) as client:
        for _ in range(20):  # the run's last log lines are shipped as it ends
            logs = [
                log.message
                for log in client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[runs["safety net"]])))
            ]
            if sum("not settled" in line for line in logs) >= 3:
                break
            time.sleep(0.25)
    return SimpleNamespace(verified=verified, states=states, net=logs, versions=versions, store=unsigned)


def rewrite_chain(engine, change_id: str, old: str, new: str) -> None:
    """The database administrator's rewrite: every version edited and its chain digest recomputed (the
    append-only trigger dropped), the current row to match; the executor's signatures are left as they were."""
    from sqlalchemy import text

    from changeflow.domain.history import GENESIS, link_digest
    from tests.database_admin import drop_append_only

    drop_append_only(engine)
    previous = GENESIS
    with engine.begin() as db:
        for version, writer, content in db.execute(
            text("SELECT version, writer, content FROM change_record_versions WHERE change_id = :i ORDER BY version"),
            {"i": change_id},
        ).all():
            assert old in content
            content = content.replace(old, new)
            digest = link_digest(previous, change_id, version, writer, content)
            db.execute(
                text(
                    "UPDATE change_record_versions SET content = :c, previous_sha256 = :p, sha256 = :s WHERE change_id = :i AND version = :v"
                ),
                {"c": content, "p": previous, "s": digest, "i": change_id, "v": version},
            )
            previous = digest
        db.execute(
            text("UPDATE change_records SET content = :c, sha256 = :s WHERE id = :i"),
            {"c": content, "s": previous, "i": change_id},
        )


def rewrite_in_place(engine, change_id: str, old: str, new: str) -> None:
    """Anyone with write access to the database: the current row edited, no version written."""
    from sqlalchemy import text

    with engine.begin() as db:
        content = db.execute(text("SELECT content FROM change_records WHERE id = :i"), {"i": change_id}).scalar_one()
        assert old in content
        db.execute(
            text("UPDATE change_records SET content = :c WHERE id = :i"),
            {"c": content.replace(old, new), "i": change_id},
        )


def refused(state, change_id: str, why: str) -> bool:
    return (
        state.is_failed() and f"RecordTampered: {change_id}: version " in (state.message or "") and why in state.message
    )


def test_records_saved_without_the_executor_key_drive_no_executor(tampered, production):
    """Approvals labelled ed25519 with no or a made-up signature, on a record saved through the store's own
    API: `audit verify` exits 8, the rollback run refuses the scheduled one, the safety net the orphan."""
    unsigned = "it is not signed by an executor (written without the executor's key)"
    assert tampered.verified["CHG-0831"] == (8, f"broken: CHG-0831 version 1: {unsigned}")
    assert tampered.verified["CHG-0832"] == (8, f"broken: CHG-0832 version 1: {unsigned}")
    assert refused(tampered.states["rollback CHG-0831"], "CHG-0831", unsigned), tampered.states["rollback CHG-0831"]
    assert tampered.states["safety net"].is_completed(), tampered.states["safety net"]
    assert "CHG-0832 not settled: CHG-0832: version 1: " + unsigned + "; no executor acts on it" in "\n".join(
        tampered.net
    ), tampered.net
    assert {i: len(tampered.store.history(i)) for i in ("CHG-0831", "CHG-0832")} == {
        i: tampered.versions[i] for i in ("CHG-0831", "CHG-0832")
    }
    assert production.asked() == production.before  # v3 was never loaded


def test_a_rewritten_chain_and_a_row_rewritten_in_place_drive_no_executor(tampered, production):
    """Every version of CHG-0841 rewritten with its digests recomputed (its chain is consistent again, its
    signatures are not), CHG-0842's current row edited: `audit verify` exits 8 naming each, the rollback run
    and the safety net refuse them, and production never loads the v3 they name."""
    from changeflow.services.audit import audit_record

    assert audit_record(tampered.store, "CHG-0841", None)[1] is None  # the digests alone would pass
    forged = "its executor signature does not verify (forged or rewritten)"
    in_place = "the current record is not the chain's last version (rewritten in place)"
    assert tampered.verified["CHG-0841"] == (8, f"broken: CHG-0841 version 1: {forged}")
    assert tampered.verified["CHG-0842"] == (8, f"broken: CHG-0842 version {tampered.versions['CHG-0842']}: {in_place}")
    assert refused(tampered.states["rollback CHG-0841"], "CHG-0841", forged), tampered.states["rollback CHG-0841"]
    assert refused(tampered.states["rollback CHG-0842"], "CHG-0842", in_place), tampered.states["rollback CHG-0842"]
    for change_id, why in (("CHG-0841", forged), ("CHG-0842", in_place)):
        assert any(
            line.startswith(f"{change_id} not settled: {change_id}: version ") and why in line for line in tampered.net
        ), tampered.net
    assert {i: len(tampered.store.history(i)) for i in ("CHG-0841", "CHG-0842")} == {
        i: tampered.versions[i] for i in ("CHG-0841", "CHG-0842")
    }
    assert production.asked() == production.before  # v3 was never loaded
