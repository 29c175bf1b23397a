"""The demo's child process: real Tritons, and the sample changes submitted as a requester submits them:
each one a run of its change-type deployment carrying the request only, executed by a worker that holds
the executor's configuration (environment file, sealed governance bundle, keys, the demo's clock per
change type); approvals through the Prefect resume API; one JSON report on the last line of stdout.

Run by ``changeflow demo`` with ``PREFECT_API_URL`` set; each change gets light client traffic so its
``requests`` / ``failed_requests`` say what clients saw while it ran.
"""

from __future__ import annotations

import re
import sys
import tempfile
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from changeflow.adapters.prefect_approvals import DecisionsInBackground
from changeflow.bootstrap import bootstrap
from changeflow.domain.record import ChangeResult
from changeflow.kinds import kind_of
from changeflow.local.approvers import enrolled_approvers
from changeflow.local.client_load import ClientLoad
from changeflow.local.demo import SCENARIOS, DemoChange, DemoReport, Scenario
from changeflow.local.event_sink import EventSink
from changeflow.local.fleet import LocalFleet, start_fleet
from changeflow.local.load_balancer import missing_reason
from changeflow.local.triton_server import TritonServer
from changeflow.ports import RecordStore
from changeflow.services.records import every
from changeflow.settings import paths
from changeflow.settings.environment import BakeSettings, Environment, RecordStoreSettings
from changeflow.settings.governance import IncidentEvents
from changeflow.settings.loader import load_change_request, load_governance

POOL = "changeflow-demo"
SUFFIX = "-demo"  # its own deployments (normal-change/normal-demo …): a team's on the same server are left alone


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def first_free_block(store: RecordStore) -> int:
    """Sample IDs are renumbered past the changes already on this server, so the demo can run again."""
    taken = [int(m.group(1)) for r in every(store) if (m := re.match(r"CHG-(\d+)$", r.id))]
    return 0 if not taken else (max(taken) // 100 + 1) * 100


def clock_per_type(scenarios: list[Scenario]) -> dict[str, datetime]:
    """The worker's scheduling clock, one moment per change type (the demo's, never a run parameter)."""
    clocks: dict[str, datetime] = {}
    for scenario in scenarios:
        change_type = load_change_request(paths.CHANGES / scenario.file).type.value
        if clocks.setdefault(change_type, scenario.clock) != scenario.clock:
            raise ValueError(f"demo scenarios of type {change_type} need one clock; {scenario.file} has another")
    return clocks


REPLICAS = 2  # production is a fleet: a change loads and checks each replica; clients go through haproxy


def main() -> None:
    from importlib.metadata import version

    reviewers = [scenario.review[0] for scenario in SCENARIOS if scenario.review]
    with enrolled_approvers(
        sorted({who for scenario in SCENARIOS for who, _, _ in scenario.decisions} | set(reviewers)), executor=False
    ) as keys:
        run_scenarios(keys, version)


def run_scenarios(keys: Path, version) -> None:
    from changeflow.local.executor import executor_configuration
    from changeflow.local.serve import deploy_change_flows
    from changeflow.local.workers import LocalWorkers

    say(
        f"starting production ({REPLICAS} Tritons over one private copy of examples/model_repository, behind haproxy) "
        "and staging …"
    )
    with (
        ExitStack() as stack,
        TritonServer(paths.MODEL_REPOSITORY, name="staging", copy_repository=True) as staging,
        EventSink() as sink,
        tempfile.TemporaryDirectory(prefix="changeflow-demo-executor-") as home,
    ):
        served = [("classifier", None), ("feature_scaler", None), ("generator", None)]
        prod = start_fleet(stack, paths.MODEL_REPOSITORY, served, REPLICAS)
        if prod.balancer is None:
            say(f"  no load balancer here ({missing_reason()}): client load goes to {prod.servers[0].name}")
        environment = Environment(
            production=prod.endpoint("production"),
            staging=staging.endpoint("staging"),
            records=RecordStoreSettings(),
            bake=BakeSettings(interval_s=0.5, probes_per_sample=20, smoke_requests=10),
        )
        governance = load_governance(
            paths.EXAMPLES,
            approval_timeout_s=120,
            approval_poll_s=1,
            incident_events=IncidentEvents(url=sink.url, routing_key="demo"),
        )
        configuration = executor_configuration(Path(home), environment, governance, clock_per_type(SCENARIOS))
        say(
            f"deploying the change flows to work pool {POOL} and starting a worker with the executor's configuration "
            f"(sealed governance {configuration['CHANGEFLOW_GOVERNANCE']}) …"
        )
        deploy_change_flows(safety_net_every_s=None, pool=POOL, drift_every_s=None, suffix=SUFFIX)
        services = bootstrap(environment)
        with LocalWorkers(POOL, count=1, env=configuration) as _worker:
            report = run_each(services, prod, keys, sink)
        report = report.model_copy(update={"prefect_version": version("prefect")})
    print(report.model_dump_json())


def run_each(services, prod: LocalFleet, keys: Path, sink: EventSink) -> DemoReport:
    from changeflow.adapters.credentials import signed_proof
    from changeflow.adapters.prefect_submit import follow, start_change_run

    store = services.records
    offset = first_free_block(store)
    changes = []
    for scenario in SCENARIOS:
        request = load_change_request(paths.CHANGES / scenario.file)
        if offset:
            request = request.model_copy(update={"id": f"CHG-{int(request.id[4:]) + offset:04d}"})
        say(
            f"\n── {request.id} ({request.type.value} {request.kind} on {request.model}), the worker's clock {scenario.clock.isoformat()}"
        )
        traffic = kind_of(request).golden_set(request.change) or paths.GOLDEN / f"{request.model}.json"
        with (
            ClientLoad(prod.http_url, traffic, threads=2, pause_s=0.005, grpc_url=prod.endpoint().grpc_url) as load,
            DecisionsInBackground(
                request.id,
                scenario.decisions,
                proof=lambda who, ok, cid=request.id: signed_proof(store, keys, cid, who, ok),
            ) as approvers,
        ):
            run_id = start_change_run(request, SUFFIX)
            state = follow(run_id, lambda line: say(f"  {line}"))
        if approvers.error:
            say(f"  approvers: {approvers.error}")
        result = ChangeResult.of(store.load(request.id))
        if scenario.review and result.state.value == "review_pending":
            result = reviewed(store, keys, request.id, *scenario.review)
        say(f"  → {result.state.value}: {result.outcome} (flow run {state.name})")
        changes.append(
            DemoChange(
                id=request.id,
                type=request.type.value,
                kind=request.kind,
                model=request.model,
                outcome=result.state.value,
                serving_version_before=result.serving_version_before,
                serving_version_after=result.serving_version_after,
                rollback_ms=result.rollback_ms,
                requests=load.requests,
                failed_requests=len(load.failures),
                detail=result.outcome,
            )
        )
    return DemoReport(
        changes=changes,
        triton_version=services.production.server_version(),
        prefect_version="",
        incident_events_received=len(sink.events),
    )


def reviewed(store: RecordStore, keys: Path, change_id: str, reviewer: str, summary: str) -> ChangeResult:
    """The emergency's post-implementation review, signed with the reviewer's key and sent as a run of the
    review deployment (what `changeflow review` does): the worker judges it and records it."""
    from changeflow.adapters.credentials import signed_review
    from changeflow.adapters.prefect_submit import follow, start_review_run

    signature = signed_review(store, keys, change_id, reviewer, summary)
    follow(start_review_run(change_id, reviewer, summary, signature, SUFFIX), lambda line: say(f"  review {line}"))
    return ChangeResult.of(store.load(change_id))


if __name__ == "__main__":
    main()
