"""More records than any page (measured before: a list built from one Prefect call held 200 of 260):
list, report, window conflicts and the safety net each see all of them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from datetime import datetime, timedelta, timezone

from changeflow.adapters.sql_records import SqlRecordStore
from changeflow.domain.record import ChangeRecord, State
from changeflow.domain.request import Risk
from changeflow.domain.windows import window_conflicts
from changeflow.services.records import related_changes
from changeflow.settings.defaults import executor_key
from changeflow.settings.environment import BakeSettings, Environment, RecordStoreSettings, ServerEndpoint
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES
from tests.e2e.test_cli import run

MANY = 263


def dead_pid() -> str:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return str(gone.pid)


def test_every_reader_sees_all_263_records(tmp_path, prefect_server):
    from changeflow.flows.safety import safety_net

    url = f"sqlite:///{tmp_path / 'records.db'}"
    store = SqlRecordStore(
        url, signer=executor_key()
    )  # written by executors (now dead): signed with the session's executor key
    base = load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml")
    now, pid = datetime.now(timezone.utc), dead_pid()
    for i in range(MANY):  # changes whose executor died before they touched production
        record = ChangeRecord.open(
            base.model_copy(update={"id": f"CHG-{i + 1000:04d}"}), Risk.MEDIUM, now - timedelta(minutes=i)
        )
        for state in (State.ASSESSED, State.APPROVED, State.SCHEDULED, State.EXECUTING):
            record.transition(state, now, "")
        record.executor = {"host": socket.gethostname(), "pid": pid}
        store.save(record)
    env = {**os.environ, "CHANGEFLOW_RECORDS_URL": url}

    listing = run("list", "--json", "--all", env=env)
    assert listing.returncode == 0, listing.stderr
    assert len(json.loads(listing.stdout)) == MANY
    report = run("report", "--json", env=env)
    assert report.returncode == 0 and json.loads(report.stdout)["changes"] == MANY, report.stderr
    request = base.model_copy(update={"id": "CHG-2000"})
    assert len(window_conflicts(request, related_changes(store, request, now))) == MANY

    nowhere = ServerEndpoint(
        name="production", http_url="http://127.0.0.1:9"
    )  # the safety net needs no server to abort these
    environment = Environment(
        production=nowhere,
        staging=ServerEndpoint(name="staging", http_url="http://127.0.0.1:10"),
        records=RecordStoreSettings(url=url, publish=False),
        bake=BakeSettings(),
    )
    result = safety_net(environment)
    assert len(result.aborted) == MANY and not result.rolled_back and not result.failed
    aborted = run("list", "--json", "--all", "--state", "aborted", env=env)
    assert len(json.loads(aborted.stdout)) == MANY
