"""The governed flows' entrypoints (``flows.lifecycle``) take the change request and nothing else: a caller
that hands in an environment, a governance or a clock, in-process too, is refused, and the refusal is the
record's outcome, kept in the executor's own record store (its environment file), never the one handed in.
The flows' bodies (``.fn``) are called without Prefect: no server, nothing assessed, nothing touched."""

from __future__ import annotations

import pytest
import yaml
from changeflow.flows.lifecycle import emergency_change, normal_change, standard_change

from changeflow.adapters.prefect_states import result_of
from changeflow.bootstrap import record_store
from changeflow.domain.record import State
from changeflow.exceptions import RecordNotFound
from changeflow.settings.environment import RecordStoreSettings
from changeflow.settings.loader import load_governance
from tests.conftest import EXAMPLES
from tests.governed.conftest import WEDNESDAY_NIGHT
from tests.governed.test_sequence import change

CASES = [  # (flow, example request, what the caller hands in)
    (standard_change, "standard-config-tweak.yaml", ("now",)),
    (normal_change, "normal-deploy-v2.yaml", ("environment", "governance", "now")),
    (emergency_change, "emergency-hotfix.yaml", ("governance",)),
]


def executors_own(fake_services, tmp_path, monkeypatch):
    """The executor's own configuration, as its worker starts with it: an environment file with its record
    store, the shipped governance, no clock. Returns that environment."""
    executor = fake_services.environment.model_copy(
        update={"records": RecordStoreSettings(url=f"sqlite:///{tmp_path / 'executor.db'}", publish=False)}
    )
    settings = tmp_path / "environment.yaml"
    settings.write_text(yaml.safe_dump(executor.model_dump(mode="json")))
    monkeypatch.setenv("CHANGEFLOW_ENVIRONMENT", str(settings))
    monkeypatch.setenv("CHANGEFLOW_GOVERNANCE", str(EXAMPLES))
    monkeypatch.delenv("CHANGEFLOW_CLOCK", raising=False)
    return executor


@pytest.mark.parametrize("flow, example, given", CASES, ids=[flow.name for flow, _, _ in CASES])
def test_executor_parameters_from_any_caller_are_refused_and_recorded(
    flow, example, given, fake_services, tmp_path, monkeypatch
):
    executor = executors_own(fake_services, tmp_path, monkeypatch)
    handed_in = {
        "environment": executor.model_copy(
            update={"records": RecordStoreSettings(url=f"sqlite:///{tmp_path / 'requester.db'}", publish=False)}
        ),
        "governance": load_governance(EXAMPLES).model_copy(update={"require_proof": False}),
        "now": WEDNESDAY_NIGHT,
    }
    request = change(example)
    ended = flow.fn(request, **{name: handed_in[name] for name in given})
    result = result_of(ended)
    assert result.state is State.REJECTED, result.outcome
    assert (
        ended.is_failed() and ended.name == "Rejected" and ended.message == f"{request.id} rejected: {result.outcome}"
    )
    assert (
        f"refused: run parameter(s) {', '.join(given)} are the executor's configuration, not the requester's"
        in result.outcome
    )
    record = record_store(executor.records).load(request.id)  # the executor's own store holds the refusal
    assert [t.to_state for t in record.transitions] == [State.REQUESTED, State.REJECTED]
    assert record.execution_steps == [] and not record.production_touched and record.approvals == []
    assert not (tmp_path / "requester.db").exists()  # the handed-in environment was never used


@pytest.mark.parametrize(
    "update, why",
    [
        (
            {"golden_set": "../golden/classifier.json"},
            "change.golden_set",
        ),  # the request file's path, typed in the form
        ({"golden_set": "golden/nowhere.json"}, "does not exist"),
    ],
)
def test_a_request_refused_before_its_record_ends_refused_saying_why_in_one_line(
    update, why, fake_services, tmp_path, monkeypatch
):
    """What the Run form's user reads: a red *Refused* whose message is the one-line reason, no record."""
    executor = executors_own(fake_services, tmp_path, monkeypatch)
    request = change("normal-deploy-v2.yaml")
    request = request.model_copy(update={"change": request.change.model_copy(update=update)})
    ended = normal_change.fn(request)
    assert ended.is_failed() and ended.name == "Refused", (ended.name, ended.message)
    assert why in ended.message and "\n" not in ended.message, ended.message
    with pytest.raises(RecordNotFound):
        record_store(executor.records).load(request.id)
