"""The recorder saves honest records step by step; the orphan finder picks the changes to roll back."""

import os
import socket
from datetime import datetime, timezone

import pytest

from changeflow.domain.record import ChangeRecord, Phase, State, StepOutcome
from changeflow.domain.request import Risk
from changeflow.services.orphans import orphans
from changeflow.services.recorder import Recorder
from changeflow.settings import paths
from changeflow.settings.loader import load_change_request
from tests.fakes import FakeRecordStore

AT = datetime(2026, 11, 25, 22, tzinfo=timezone.utc)


def opened(change_id: str = "CHG-0002") -> Recorder:
    request = load_change_request(paths.CHANGES / "normal-deploy-v2.yaml").model_copy(update={"id": change_id})
    recorder = Recorder(ChangeRecord.open(request, Risk.MEDIUM, AT), FakeRecordStore())
    for state in (State.ASSESSED, State.APPROVED, State.SCHEDULED, State.EXECUTING):
        recorder.transition(state, "test")
    return recorder


def test_a_step_is_saved_when_it_starts_and_when_it_ends():
    recorder = opened()
    store = recorder._store
    with recorder.step(Phase.EXECUTION, "stage") as step:
        assert store.load("CHG-0002").execution_steps[-1].ended_at is None  # a crash now leaves it open on record
        step.detail = "v2 READY"
    saved = store.load("CHG-0002").execution_steps[-1]
    assert saved.outcome is StepOutcome.OK and saved.detail == "v2 READY"


def test_a_step_that_raises_is_recorded_failed_and_the_error_goes_on():
    recorder = opened()
    with pytest.raises(RuntimeError):
        with recorder.step(Phase.EXECUTION, "promote"):
            recorder.touching_production()
            raise RuntimeError("load refused")
    saved = recorder._store.load("CHG-0002")
    assert saved.production_touched and saved.execution_steps[-1].outcome is StepOutcome.FAILED
    assert saved.execution_steps[-1].detail == "RuntimeError: load refused"


def test_an_attachment_is_kept_once():
    recorder = opened()
    assert recorder.attach("config.before", lambda: "original") == "original"
    assert recorder.attach("config.before", lambda: pytest.fail("read again on a re-run")) == "original"


def record_with(executor: dict, touched: bool = True, state: State = State.VERIFYING) -> ChangeRecord:
    record = opened(f"CHG-{abs(hash(str(executor))) % 10000:04d}").record
    record.production_touched, record.executor = touched, executor
    if state is State.VERIFYING:
        record.transition(State.VERIFYING, AT)
    return record


def test_orphans_are_touched_open_changes_whose_executor_is_gone():
    here = socket.gethostname()
    dead = record_with({"host": here, "pid": "999999", "flow_run_id": ""})
    alive = record_with({"host": here, "pid": str(os.getpid()), "flow_run_id": "run-1"})
    ended = record_with({"host": "other-host", "pid": "1", "flow_run_id": "run-2"})
    untouched = record_with({"host": here, "pid": "4"}, touched=False)  # its executor still runs
    found = orphans(
        [dead, alive, ended, untouched],
        run_ended=lambda run: "crashed" if run == "run-2" else None,
        gone=lambda pid: pid == "999999",
    )
    assert [(o.change_id, o.why, o.production_touched) for o in found] == [
        (dead.id, "its executor (pid 999999) is gone", True),
        (ended.id, "its flow run ended crashed without closing the change", True),
    ]


def test_a_change_whose_executor_died_before_touching_production_is_an_orphan_to_close():
    here = socket.gethostname()
    untouched = record_with({"host": here, "pid": "999999"}, touched=False, state=State.EXECUTING)
    found = orphans([untouched], run_ended=lambda run: None, gone=lambda pid: True)
    assert [(o.change_id, o.production_touched) for o in found] == [(untouched.id, False)]


def test_a_subflow_left_running_is_an_orphan_when_the_root_run_a_worker_crashed_has_ended():
    """A worker whose flow process is killed marks the root run Crashed; the change's own subflow run
    stays Running. The root's end is enough, on any host."""
    subflow = record_with({"host": "other-host", "pid": "1", "flow_run_id": "sub", "root_flow_run_id": "root"})
    running = record_with({"host": "other-host", "pid": "2", "flow_run_id": "sub-2", "root_flow_run_id": "root-2"})
    found = orphans(
        [subflow, running], run_ended=lambda run: "crashed" if run == "root" else None, gone=lambda pid: False
    )
    assert [(o.change_id, o.why) for o in found] == [
        (subflow.id, "its flow run ended crashed without closing the change")
    ]
