"""A requester's submission: a run of the change type's deployment carrying the change request and
nothing else, followed to its end. The governed flow runs on a worker, with the worker's environment,
sealed governance, keys and clock; the requester's process never executes it. A reviewer's
post-implementation review goes the same way: a run of ``post-implementation-review/review`` carrying the
change ID, the reviewer, the summary and the reviewer's signature."""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State
from prefect.exceptions import ObjectNotFound

from changeflow.domain.request import ChangeRequest
from changeflow.exceptions import PrefectUnavailable


def deployment_name(change_type: str, suffix: str = "") -> str:
    """``suffix``: a separate set of deployments (the demo's, see ``local.serve.deploy_change_flows``)."""
    return f"{change_type}-change/{change_type}{suffix}"


REVIEW_DEPLOYMENT = "post-implementation-review/review"


def _start_run(name: str, parameters: dict) -> UUID:
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(name)
        except ObjectNotFound:
            raise PrefectUnavailable(
                f"no deployment {name} on the Prefect server; fix: start `changeflow serve`, or deploy "
                "deployments/prefect.yaml and start a worker with the executor's configuration"
            ) from None
        run = client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
    return run.id


def start_change_run(request: ChangeRequest, suffix: str = "") -> UUID:
    """A run of ``<type>-change/<type>`` with ``{"request": …}`` as its only parameter; its id."""
    return _start_run(deployment_name(request.type.value, suffix), {"request": request.model_dump(mode="json")})


def start_review_run(change_id: str, reviewer: str, summary: str, signature: str, suffix: str = "") -> UUID:
    """A run of ``post-implementation-review/review`` carrying these four parameters only; its id."""
    return _start_run(
        REVIEW_DEPLOYMENT + suffix,
        {"change_id": change_id, "reviewer": reviewer, "summary": summary, "signature": signature},
    )


def follow(run_id: UUID, say: Callable[[str], None], poll_s: float = 1.0) -> State:
    """Wait for the run to end, saying each state it passes through (a pause waits for approval)."""
    last = None
    with get_client(sync_client=True) as client:
        while True:
            state = client.read_flow_run(run_id).state
            if state is not None and (state.name, state.message) != last:
                last = (state.name, state.message)
                say(f"flow run {run_id}: {state.name}" + (f" — {state.message}" if state.message else ""))
            if state is not None and state.is_final():
                return state
            time.sleep(poll_s)
