"""Fakes for the governed sequence, the decision gate and the compensation guard: the services of
``tests.fakes``, a scripted ``DecisionSource``, approvers' notices kept in a list, and the steps of
``tasks.shared`` undecorated. Nothing here starts a server; Prefect's run logger is silenced."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from changeflow.adapters.credentials import sign
from changeflow.bootstrap import Services
from changeflow.domain.decisions import Answer
from changeflow.domain.identity import decision_message, person
from changeflow.settings.defaults import approver_keys_dir
from changeflow.settings.environment import Environment, RecordStoreSettings, ServerEndpoint
from changeflow.settings.loader import load_governance
from tests.conftest import EXAMPLES
from tests.fakes import FakeLocks, FakeModelServer, FakeRecordStore

BERLIN = timezone(timedelta(hours=1))
WEDNESDAY_NIGHT = datetime(2026, 11, 25, 22, 0, tzinfo=BERLIN)  # off-hours
WEDNESDAY_MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN)  # business hours
IN_THE_FREEZE = datetime(2026, 12, 20, 10, 0, tzinfo=BERLIN)


class ScriptedDecisions:
    """``DecisionSource``: answers ``script`` in order, one per ask, each signed by its approver's enrolled
    key on the digest the gate shows (what ``changeflow approve`` sends); then no answer (time runs out)."""

    def __init__(
        self, script: list[tuple[str, bool | None]], change_id: str = "", signed: bool = True, digest: str | None = None
    ) -> None:
        self.script, self.change_id, self.signed, self.digest = list(script), change_id, signed, digest
        self.asked: list[tuple[str, str]] = []  # (purpose, description)

    def ask(self, purpose: str, description: str, digest: str, timeout_s: int, poll_s: float) -> Answer | None:
        self.asked.append((purpose, description))
        if not self.script:
            return None
        who, approve = self.script.pop(0)
        on = self.digest if self.digest is not None else digest
        signature = ""
        if self.signed and approve is not None:
            signature = sign(
                approver_keys_dir() / f"{person(who)}.pem", decision_message(self.change_id, approve, on, person(who))
            )
        return Answer(approve=approve, approver=who, comment=f"{who} via test", plan_digest=on, signature=signature)


class KeptNotices:
    """``ApproverNotices`` that keep what they would send; ``overdue`` fires at once when asked to."""

    def __init__(self, fire_overdue: bool = False) -> None:
        self.sent: list[tuple[list[str], str]] = []  # (urls, title)
        self.bodies: list[str] = []  # what each notice said, in the same order
        self.overdue_payloads: list[dict] = []
        self.fire_overdue = fire_overdue

    def link(self) -> str:
        return "http://prefect.invalid/runs/flow-run/test"

    def tell(self, urls, title: str, body: str) -> bool:
        self.sent.append((list(urls), title))
        self.bodies.append(body)
        return True

    def overdue(self, change_id: str, after_s: float, payload: dict, also=None):
        notices = self

        class Timer:
            def cancel(self) -> None:
                pass

        if self.fire_overdue:
            notices.overdue_payloads.append(payload)
            if also is not None:
                also()
        return Timer()


def classifier(model, version, inputs):
    first = next(iter(inputs.values()))
    return {"OUTPUT": np.zeros((first.shape[0], 3), dtype=np.float32)}


@pytest.fixture
def fake_services(tmp_path):
    """Production and staging serving the example requests' models at v1; records in memory, signed;
    production's model repository a copy of the examples' (config changes read and write it)."""
    import shutil

    from changeflow.adapters.fleet import Fleet
    from changeflow.bootstrap import config_store
    from changeflow.settings.defaults import executor_key

    repository = shutil.copytree(EXAMPLES / "model_repository", tmp_path / "repository")

    ready = {"classifier": [1], "feature_scaler": [1], "text_classifier": [1]}
    production = FakeModelServer(classifier, ready=dict(ready), name="production")
    staging = FakeModelServer(classifier, ready=dict(ready), name="staging")
    environment = Environment(
        production=ServerEndpoint(
            name="production",
            http_url="http://production.invalid:8000",
            metrics_url="http://production.invalid:8002/metrics",
            repository=repository,
        ),
        staging=ServerEndpoint(
            name="staging", http_url="http://staging.invalid:8000", metrics_url="http://staging.invalid:8002/metrics"
        ),
        records=RecordStoreSettings(url="sqlite:///:memory:"),
    )
    desired = config_store(environment.production)
    return Services(
        environment=environment,
        production=Fleet("production", [production], desired),
        metrics=production,
        staging=staging,
        records=FakeRecordStore(signer=executor_key()),
        locks=FakeLocks(),
        notices=KeptNotices(),
        repository=desired,
    )


@pytest.fixture
def governance():
    return load_governance(EXAMPLES, approval_timeout_s=60, approval_poll_s=1)


@pytest.fixture(autouse=True)
def _no_run_logger():
    from prefect.logging import disable_run_logger

    with disable_run_logger():
        yield


@pytest.fixture(autouse=True)
def _no_traffic_window(monkeypatch):
    """The assessment measures traffic over half a second of real time; the fakes' counters need none."""
    import functools

    from changeflow.tasks import shared

    from changeflow.services import verification

    monkeypatch.setattr(shared, "request_rate", functools.partial(verification.request_rate, sleep=lambda s: None))
