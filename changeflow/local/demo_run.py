"""The demo's child process: real Tritons, the sample changes through the governed flows, approvals
through the Prefect resume API, and one JSON report on the last line of stdout.

Run by ``changeflow demo`` with ``PREFECT_API_URL`` set; each change gets light client traffic so its
``requests`` / ``failed_requests`` say what clients saw while it ran.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from changeflow.settings import paths
from changeflow.bootstrap import bootstrap
from changeflow.kinds import kind_of
from changeflow.local.triton_server import TritonServer
from changeflow.adapters.prefect_approvals import DecisionsInBackground
from changeflow.ports import RecordStore
from changeflow.local.demo import SCENARIOS, DemoChange, DemoReport
from changeflow.settings.environment import BakeSettings, Environment, RecordStoreSettings, ServerEndpoint
from changeflow.local.event_sink import EventSink
from changeflow.settings.governance import IncidentEvents
from changeflow.local.approvers import enrolled_approvers
from changeflow.local.client_load import ClientLoad
from changeflow.settings.loader import load_change_request, load_governance
from changeflow.services.records import every
from changeflow.services.reviews import submit_review


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def first_free_block(store: RecordStore) -> int:
    """Sample IDs are renumbered past the changes already on this server, so the demo can run again."""
    taken = [int(m.group(1)) for r in every(store) if (m := re.match(r"CHG-(\d+)$", r.id))]
    return 0 if not taken else (max(taken) // 100 + 1) * 100


def endpoint(name: str, server: TritonServer) -> ServerEndpoint:
    return ServerEndpoint(name=name, http_url=server.http_url, metrics_url=server.metrics_url, repository=server.repository)


def main() -> None:
    from importlib.metadata import version

    from changeflow.flows.lifecycle import CHANGE_FLOWS

    with enrolled_approvers(sorted({who for scenario in SCENARIOS for who, _, _ in scenario.decisions})) as keys:
        run_scenarios(CHANGE_FLOWS, keys, version)


def run_scenarios(CHANGE_FLOWS, keys: Path, version) -> None:
    from changeflow.adapters.credentials import signed_proof

    say("starting production and staging Tritons on private copies of examples/model_repository …")
    with TritonServer(paths.MODEL_REPOSITORY, name="production", copy_repository=True, load_models=["classifier", "feature_scaler"]) as prod, \
         TritonServer(paths.MODEL_REPOSITORY, name="staging", copy_repository=True) as staging, EventSink() as sink:
        environment = Environment(
            production=endpoint("production", prod),
            staging=endpoint("staging", staging),
            records=RecordStoreSettings(),
            bake=BakeSettings(interval_s=0.5, probes_per_sample=20, smoke_requests=10),
        )
        governance = load_governance(
            paths.EXAMPLES, approval_timeout_s=120, approval_poll_s=1, incident_events=IncidentEvents(url=sink.url, routing_key="demo")
        )
        services = bootstrap(environment)
        store = services.records
        offset = first_free_block(store)
        triton_version = services.production.server_version()
        changes = []
        for scenario in SCENARIOS:
            request = load_change_request(paths.CHANGES / scenario.file)
            if offset:
                request = request.model_copy(update={"id": f"CHG-{int(request.id[4:]) + offset:04d}"})
            say(f"\n── {request.id} ({request.type.value} {request.kind} on {request.model}), scheduling clock {scenario.clock.isoformat()}")
            flow = CHANGE_FLOWS[request.type]
            traffic = kind_of(request).golden_set(request.change) or paths.GOLDEN / f"{request.model}.json"
            with ClientLoad(prod.http_url, traffic, threads=2, pause_s=0.005) as load, DecisionsInBackground(
                request.id, scenario.decisions, proof=lambda who, ok, cid=request.id: signed_proof(store, keys, cid, who, ok)
            ) as approvers:
                result = flow(request, environment, governance, scenario.clock)
            if approvers.error:
                say(f"  approvers: {approvers.error}")
            if scenario.review and result.state.value == "review_pending":
                record = submit_review(store, request.id, *scenario.review)
                result = result.model_copy(update={"state": record.state, "outcome": record.outcome})
            say(f"  → {result.state.value}: {result.outcome}")
            changes.append(
                DemoChange(
                    id=request.id, type=request.type.value, kind=request.kind, model=request.model,
                    outcome=result.state.value, serving_version_before=result.serving_version_before,
                    serving_version_after=result.serving_version_after, rollback_ms=result.rollback_ms,
                    requests=load.requests, failed_requests=len(load.failures), detail=result.outcome,
                )
            )
        report = DemoReport(changes=changes, triton_version=triton_version, prefect_version=version("prefect"), incident_events_received=len(sink.events))
    print(report.model_dump_json())


if __name__ == "__main__":
    main()
