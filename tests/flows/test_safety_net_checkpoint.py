"""Every safety-net run ends with a signed checkpoint of every chain head: a file in the worker's
checkpoint folder and a ``changeflow.records.checkpoint`` event carrying it. Needs Prefect, no Triton
(nothing is orphaned, so production is never asked)."""

import time
from datetime import datetime, timezone

from changeflow.flows.safety import safety_net

from changeflow.bootstrap import record_store
from changeflow.domain.record import ChangeRecord
from changeflow.domain.request import Risk
from changeflow.services.audit import executor_seals, read_checkpoint
from changeflow.settings.environment import Environment, RecordStoreSettings, ServerEndpoint
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES


def read_checkpoint_events(file: str, since: datetime, timeout_s: float = 20) -> list:
    """The ``changeflow.records.checkpoint`` events about ``file`` since ``since`` (the session's server holds
    other tests' checkpoints too)."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

    deadline = time.monotonic() + timeout_s
    while True:
        with get_client(sync_client=True) as client:
            found = client.read_events(
                EventFilter(
                    event=EventNameFilter(name=["changeflow.records.checkpoint"]),
                    occurred=EventOccurredFilter(since=since),
                ),
                limit=50,
            ).events
        events = [e for e in found if e.payload.get("file") == file]
        if events or time.monotonic() > deadline:
            return events
        time.sleep(0.5)


def test_a_safety_net_run_keeps_a_signed_checkpoint_and_announces_it(prefect_server, tmp_path, monkeypatch):
    monkeypatch.setenv("CHANGEFLOW_CHECKPOINTS", str(tmp_path / "checkpoints"))
    nowhere = ServerEndpoint(name="production", http_url="http://127.0.0.1:9")
    environment = Environment(
        production=nowhere,
        staging=nowhere.model_copy(update={"name": "staging", "http_url": "http://127.0.0.1:10"}),
        records=RecordStoreSettings(url=f"sqlite:///{tmp_path / 'records.db'}", publish=False),
    )
    store = record_store(environment.records)
    request = load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml").model_copy(update={"id": "CHG-0301"})
    version = store.save(ChangeRecord.open(request, Risk.MEDIUM, datetime.now(timezone.utc)))

    started = datetime.now(timezone.utc)
    result = safety_net(environment)
    assert (result.rolled_back, result.aborted, result.failed) == ([], [], {})
    assert result.checkpoint.startswith(str(tmp_path / "checkpoints")), result.checkpoint
    with open(result.checkpoint, encoding="utf-8") as kept:
        checkpoint = read_checkpoint(kept.read(), executor_seals())  # signed by this executor's key
    assert checkpoint.heads == {"CHG-0301": (1, version.sha256)} and checkpoint.seq == version.seq == 1
    events = read_checkpoint_events(result.checkpoint.rsplit("/", 1)[1], started)
    assert (
        events
        and events[0].payload["signature"] == checkpoint.signature
        and events[0].payload["heads"] == {"CHG-0301": [1, version.sha256]}
    )
