"""The change record in the database, published as a Prefect artifact and events. The changes run the
config-change flow directly (a record opened as a direct execution goes through the same store and
publisher); the governed sequence's change events to incident management are tested with fakes in
tests/governed/test_sequence.py."""

import time

import pytest
from changeflow.flows.config_change import config_change

from changeflow import State
from changeflow.adapters.prefect_records import artifact_key, artifact_records
from changeflow.adapters.sql_records import SqlRecordStore
from changeflow.domain.history import verify_chain
from changeflow.settings.environment import RecordStoreSettings
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.triton


def tweak(change_id):
    return load_change_request(EXAMPLES / "changes" / "standard-config-tweak.yaml").model_copy(update={"id": change_id})


def read_change_events(change_id, expect, timeout_s=20, prefix="changeflow.change.", whole=False):
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    names = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            page = client.read_events(
                EventFilter(
                    event=EventNameFilter(prefix=[prefix]),
                    resource=EventResourceFilter(id=[f"changeflow.change.{change_id}"]),
                ),
                limit=50,
            )
        names = sorted(e.event for e in page.events)
        if len(names) >= expect:
            break
        time.sleep(0.5)
    return page.events if whole else names


def test_record_is_in_the_database_published_as_an_artifact_and_each_transition_an_event(environment):
    prefect_env = environment.model_copy(
        update={"records": RecordStoreSettings(url=environment.records.url, publish=True)}
    )
    result = config_change(tweak("CHG-0021"), prefect_env)
    assert result.state is State.CLOSED, result.outcome
    database = SqlRecordStore(environment.records.url)
    record = database.load("CHG-0021")
    assert record.state is State.CLOSED and record.execution_steps and record.request.id == "CHG-0021"
    versions = database.history("CHG-0021")
    assert len(versions) > 7 and verify_chain(versions) is None and "flow run" in versions[0].writer
    published = {r.id: r for r in artifact_records()}["CHG-0021"]  # the UI's view is the latest version
    assert published == record and artifact_key("CHG-0021") == "chg-0021"
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:  # one card for the run, however many saves: updated in place
        (card,) = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["chg-0021"])))
        run = client.read_flow_run(card.flow_run_id)
    assert len(versions) > 1 and run.parent_task_run_id is None and run.flow_id is not None
    assert card.data.startswith("## Change CHG-0021\n\n**Done") and f"(version {len(versions)})" in card.description
    states = ["requested", "assessed", "approved", "scheduled", "executing", "verifying", "closed"]
    events = read_change_events("CHG-0021", len(states), whole=True)
    assert sorted(e.event for e in events) == sorted(
        f"changeflow.change.{s}" for s in states
    )  # one event per transition
    closed = next(e for e in events if e.event == "changeflow.change.closed")
    assert closed.payload["sha256"] == versions[-1].sha256  # the chain head goes out with the event


def test_a_record_rewritten_through_the_prefect_api_is_named_by_the_audit(environment):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import ArtifactCreate

    from changeflow.render.record_markdown import record_markdown
    from changeflow.services.audit import audit

    prefect_env = environment.model_copy(
        update={"records": RecordStoreSettings(url=environment.records.url, publish=True)}
    )
    assert config_change(tweak("CHG-0023"), prefect_env).state is State.CLOSED
    database = SqlRecordStore(environment.records.url)
    assert audit(database, ["CHG-0023"], {r.id: r for r in artifact_records()}).breaks == []
    forged = database.load("CHG-0023").model_copy(update={"outcome": "closed; approved by carol"})
    with get_client(sync_client=True) as client:  # what any API client could write: a newer artifact version
        client.create_artifact(
            ArtifactCreate(
                key=artifact_key("CHG-0023"), type="markdown", data=record_markdown(forged, forged.model_dump_json())
            )
        )
    report = audit(database, ["CHG-0023"], {r.id: r for r in artifact_records()})
    assert [b.change_id for b in report.breaks] == ["CHG-0023"] and "through the Prefect API" in report.breaks[0].reason
    assert database.load("CHG-0023").outcome != forged.outcome  # the system of record is untouched
