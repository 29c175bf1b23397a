"""The drift check's decisions with fakes: baseline, one record per drift, skips for changes in flight,
revert and its failure, and a governed change that takes a drift over."""

from contextlib import contextmanager

import numpy as np

from changeflow.bootstrap import Services
from changeflow.domain.drift import APPROVED_STATE, DriftAction, DriftPolicy, Step
from changeflow.domain.history import RecordQuery
from changeflow.domain.model_config import parse_config
from changeflow.domain.record import ChangeRecord, State, Unrequested
from changeflow.domain.request import ChangeType
from changeflow.services.drift import Announcer, capture_approved, check
from changeflow.services.recorder import Recorder, utc_now
from changeflow.services.records import every
from changeflow.settings.environment import Environment, RecordStoreSettings, ServerEndpoint
from tests.fakes import FakeLocks, FakeModelServer, FakeRecordStore

CONFIG = parse_config(
    'name: "m"\nbackend: "python"\nmax_batch_size: 4\ninput { name: "X" data_type: TYPE_FP32 dims: 2 }\noutput { name: "Y" data_type: TYPE_FP32 dims: 2 }'
)


def services(locks=None) -> Services:
    server = FakeModelServer(
        lambda model, version, inputs: {"Y": np.zeros((1, 2), np.float32)}, ready={"m": [1]}, name="production"
    )
    server.configs["m"] = CONFIG
    endpoint = ServerEndpoint(name="production", http_url="http://127.0.0.1:9")
    staging = ServerEndpoint(name="staging", http_url="http://127.0.0.1:10")
    environment = Environment(
        production=endpoint, staging=staging, records=RecordStoreSettings(url="sqlite:///unused.db")
    )
    return Services(
        environment=environment,
        production=server,
        metrics=server,
        staging=server,
        records=FakeRecordStore(),
        locks=locks or FakeLocks(),
    )


def unauthorized(s: Services) -> list[ChangeRecord]:
    return [r for r in every(s.records, RecordQuery()) if r.type is Unrequested.UNAUTHORIZED]


def test_baseline_then_one_record_per_drift_with_one_announcement():
    s, said = services(), []
    first = check(s, DriftPolicy())
    assert [c.step for c in first.checks] == [Step.ADOPT_BASELINE] and first.clean
    s.production.load_versions("m", [1, 2])  # by hand
    announce = Announcer(unauthorized=lambda record: said.append(record.id))
    report = check(s, DriftPolicy(), announce)
    assert len(report.unauthorized) == 1 and said == report.unauthorized
    assert check(s, DriftPolicy(), announce).still_open == report.unauthorized and len(said) == 1
    assert s.records.load(report.unauthorized[0]).drift.changes[0].seen == "[1, 2]"


def test_a_model_in_flight_or_locked_is_skipped():
    s = services()
    check(s, DriftPolicy())
    s.production.load_versions("m", [1, 2])
    executing = ChangeRecord.baseline("CHG-0001", "m", "model_deployment", "x", utc_now()).model_copy(
        update={"state": State.EXECUTING, "type": ChangeType.NORMAL}
    )
    s.records.save(executing)
    report = check(s, DriftPolicy())
    assert report.unauthorized == [] and "CHG-0001 is in flight" in report.checks[0].reason

    class Busy(FakeLocks):
        @contextmanager
        def hold_if_free(self, model):
            yield None

    s.records.save(executing.model_copy(update={"state": State.VERIFYING}).model_copy(update={"state": State.CLOSED}))
    s.locks = Busy()
    report = check(s, DriftPolicy())
    assert report.unauthorized == [] and report.checks[0].reason == "skipped: a change holds the model's lock"


def test_revert_restores_and_verifies_and_a_failed_revert_needs_attention():
    s, problems = services(), []
    policy = DriftPolicy(default=DriftAction.REVERT)
    check(s, policy)
    s.production.load_versions("m", [1, 2])
    report = check(s, policy)
    assert report.reverted == report.unauthorized and s.production.ready_versions("m") == [1]
    record = s.records.load(report.reverted[0])
    assert record.state is State.ROLLED_BACK and [x.name for x in record.rollback_steps] == [
        "restore_approved_state",
        "verify_restored",
    ]
    assert APPROVED_STATE in record.attachments

    s.production.load_versions("m", [3])
    s.production.load_versions = lambda *a, **k: None  # a revert that does nothing must not pass as verified
    report = check(s, policy, Announcer(needs_attention=lambda r, p: problems.append(r.id)))
    assert report.reverted == [] and list(report.needs_attention) == report.unauthorized == problems
    record = s.records.load(report.unauthorized[0])
    assert record.state is State.DETECTED and record.outcome.startswith("PRODUCTION NEEDS ATTENTION")
    assert (
        record.rollback_steps[-1].outcome.value == "failed"
        and "ready_versions: [1] → [3]" in record.rollback_steps[-1].detail
    )


def drifted_then_governed(example: str, **change) -> tuple[Services, str, Recorder]:
    """A drift on record (v2 loaded beside v1 by hand), then a governed change of ``example`` to model m."""
    from changeflow.domain.request import ChangeRequest
    from changeflow.settings.loader import load_change_request
    from tests.conftest import EXAMPLES

    s = services()
    check(s, DriftPolicy())
    s.production.load_versions("m", [1, 2])
    drift_id = check(s, DriftPolicy()).unauthorized[0]
    data = load_change_request(EXAMPLES / "changes" / example).model_dump(mode="json")
    request = ChangeRequest.model_validate({**data, "model": "m", "change": {**data["change"], **change}})
    return s, drift_id, Recorder(ChangeRecord.open(request, "medium", utc_now()), s.records)


def test_a_governed_change_closing_on_the_drifted_target_settles_it():
    s, drift_id, governed = drifted_then_governed("normal-deploy-v2.yaml", from_version=None, to_version=2)
    request = governed.record.request
    s.production.load_versions("m", [2])
    assert capture_approved(s, governed) == [drift_id]
    settled = s.records.load(drift_id)
    assert (
        settled.state is State.CLOSED
        and settled.attachments["settled_by"] == request.id
        and "superseded by governed change" in settled.outcome
    )
    assert governed.record.attachments["settles"] == drift_id
    s.records.save(governed.record.model_copy(update={"state": State.CLOSED}))  # what Execution.close does next
    assert check(s, DriftPolicy()).clean and unauthorized(s) == [settled]


def test_a_governed_change_that_leaves_what_the_drift_made_legitimises_it():
    s, drift_id, governed = drifted_then_governed("standard-config-tweak.yaml")
    assert capture_approved(s, governed) == [drift_id]  # e.g. a config change that kept the versions the drift loaded
    assert "legitimised by governed change CHG-0001" in s.records.load(drift_id).outcome


def test_a_target_this_environment_cannot_reach_is_said_not_checked():
    from changeflow.domain.drift import APPROVED_STATE, Snapshot, Target, snapshots_text

    s = services()  # no cluster configured
    record = ChangeRecord.baseline("BASE-1", "m", "deployment", "x", utc_now())
    record.attachments[APPROVED_STATE] = snapshots_text(
        [
            Snapshot(
                target=Target(kind="deployment", where="ns", name="triton", model="m"),
                facts={"triton.image": "a"},
                seen_at=utc_now(),
            )
        ]
    )
    s.records.save(record)
    report = check(s, DriftPolicy())
    assert report.clean and "not checked here" in report.checks[0].reason and "cluster" in report.checks[0].reason


def test_production_down_is_said_and_not_taken_for_a_drift():
    s = services()
    check(s, DriftPolicy())
    s.production.down = True
    report = check(s, DriftPolicy())
    assert (
        report.unauthorized == []
        and "production" in report.needs_attention
        and "does not answer" in report.needs_attention["production"]
    )
    assert not report.clean  # `changeflow drift check` exits 6: nobody can tell what production serves


def fleet_services(tmp_path) -> tuple[Services, list[FakeModelServer]]:
    """Production as two fake replicas over one repository folder (a real file, written by the fleet)."""
    from changeflow.adapters.config_store import LocalConfigStore, Repositories
    from changeflow.adapters.fleet import Fleet
    from changeflow.domain.model_config import render_config, with_versions

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.pbtxt").write_text(render_config(with_versions(CONFIG, [1])))
    repository = Repositories([LocalConfigStore(tmp_path)])
    s = services()
    replicas = []
    for name in ("p1", "p2"):
        replica = FakeModelServer(
            lambda model, version, inputs: {"Y": np.zeros((1, 2), np.float32)}, ready={"m": [1]}, name=name
        )
        replica.configs["m"] = CONFIG
        replicas.append(replica)
    s.production = Fleet("production", replicas, repository)
    s.repository = repository
    return s, replicas


def test_a_replica_left_behind_by_a_restart_is_converged_and_noted_never_unauthorized(tmp_path):
    from changeflow.domain.drift import Target, snapshots_text
    from changeflow.services.drift import observe

    s, (p1, p2) = fleet_services(tmp_path)
    assert check(s, DriftPolicy()).baselines  # v1 approved, as the repository says
    s.production.load_versions("m", [2])  # a governed change: the repository says [2], both replicas serve it
    closed = ChangeRecord.baseline("CHG-0009", "m", "model_deployment", "v2 approved", utc_now())
    target = Target(kind="triton_model", where="production", name="m", model="m")
    closed.attachments[APPROVED_STATE] = snapshots_text([observe(s, target)])  # what it captures as it closes
    s.records.save(closed)
    p2.ready_map["m"] = [1]  # p2 restarted from a file of before the change (or missed the load)
    report = check(s, DriftPolicy())
    assert unauthorized(s) == [] and report.clean, report
    assert "p2 served [1], the repository says [2]: reloaded" in report.converged[target.key]
    assert p2.ready_versions("m") == [2] and p1.ready_versions("m") == [2]
    noted = s.records.load("CHG-0009").attachments
    assert any(key.startswith("replica converged") and "p2 served [1]" in text for key, text in noted.items())


def test_a_version_loaded_by_hand_on_one_replica_is_still_unauthorized(tmp_path):
    s, (p1, p2) = fleet_services(tmp_path)
    check(s, DriftPolicy())
    p1.load_versions("m", [1, 3])  # by hand, on one replica: never approved
    report = check(s, DriftPolicy())
    assert report.converged == {} and len(report.unauthorized) == 1
    drift = s.records.load(report.unauthorized[0]).drift
    seen = {change.fact: change.seen for change in drift.changes}
    assert seen == {"ready_versions": '{"p1": [1, 3], "p2": [1]}'} and p1.ready_versions("m") == [1, 3]


def test_a_repository_edited_by_hand_is_not_converged_to(tmp_path):
    s, (p1, p2) = fleet_services(tmp_path)
    check(s, DriftPolicy())
    text = (tmp_path / "m" / "config.pbtxt").read_text()
    (tmp_path / "m" / "config.pbtxt").write_text(text.replace("versions: 1", "versions: 3"))
    p2.ready_map["m"] = [1]
    report = check(s, DriftPolicy())
    assert report.converged == {} and p2.ready_versions("m") == [1]
