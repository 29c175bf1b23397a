"""Decisions through Prefect: inside the flow, ``PrefectPause`` (the ``DecisionSource`` of production)
pauses the run with a resume form; from outside (``changeflow approve``, the demo's approvers) find the
change's paused flow run and resume it with ``resume_flow_run(run_input=…)``, what the UI's form sends."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import FlowPauseTimeout, pause_flow_run, resume_flow_run
from prefect.input import RunInput
from pydantic import ConfigDict, Field, create_model

from changeflow.domain.decisions import Answer
from changeflow.exceptions import NotWaitingForApproval

CHOICES = ("approve", "reject")
REQUIRED = ("decision", "approver", "code")


def form_schema(schema: dict) -> None:
    """The form as the UI and Prefect's server see it: an explicit choice with no default, name and code
    required. Prefect's server checks a resume against this schema, so an answer without a choice is
    refused at the form, before the run resumes; the Python side keeps defaults so that whatever reaches
    the worker still loads and is judged (``domain.decisions.malformed``) rather than crashing the run."""
    properties = schema.get("properties", {})
    for name in REQUIRED:
        properties.get(name, {}).pop("default", None)
    properties.get("decision", {})["enum"] = list(CHOICES)
    properties.get("approver", {})["minLength"] = 1
    schema["required"] = [name for name in REQUIRED if name in properties]


class ApprovalDecision(RunInput):
    """The form an approver fills in to resume a paused change."""

    model_config = ConfigDict(json_schema_extra=form_schema)

    decision: str = Field("", title="Decision", description="approve: count my approval; reject: stop this change")
    approver: str = Field("", title="Your name", description="As on the approver list, e.g. carol")
    code: str = Field(
        "",
        title="One-time code",
        description="The 6 digits your authenticator app shows for changeflow (`changeflow approve` signs instead)",
    )
    comment: str = Field("", title="Comment", description="Why; shown on the change record")
    plan_digest: str = Field(
        "", title="Plan digest", description="What you approve: the digest of this request and plan (leave as shown)"
    )
    signature: str = Field("", title="Signature", description="Set by `changeflow approve`; leave empty in the UI")

    def answer(self) -> Answer:
        """The submitted decision; a choice other than approve or reject is None (malformed, refused)."""
        choice = self.decision.strip().lower()
        return Answer(
            approve=(choice == "approve") if choice in CHOICES else None,
            approver=self.approver,
            code=self.code,
            comment=self.comment,
            plan_digest=self.plan_digest,
            signature=self.signature,
        )


class BakeDecision(ApprovalDecision):
    """The form on a doubtful bake: the same fields as an approval, so the Prefect UI's resume form and
    ``changeflow approve`` (approve: promote anyway; ``--reject``: roll back) both work."""


FORMS = {"approval": ApprovalDecision, "bake": BakeDecision}


def prefilled(form: type[ApprovalDecision], description: str, **values: str) -> type[ApprovalDecision]:
    """``form`` with ``values`` shown in its fields and ``description`` above it. Prefect's
    ``with_initial_data`` would drop the fields' titles and descriptions, which the UI shows."""
    fields = {}
    for name, value in values.items():
        field = form.model_fields[name]
        fields[name] = (field.annotation, Field(value, title=field.title, description=field.description))
    model = create_model(form.__name__, __base__=form, **fields)
    model._description = description
    return model


class PrefectPause:
    """``DecisionSource``: pause this flow run with the purpose's form, the description above it and the
    digest pre-filled, and wait for a resume (the UI's form or ``changeflow approve``)."""

    def ask(self, purpose: str, description: str, digest: str, timeout_s: int, poll_s: float) -> Answer | None:
        form = prefilled(FORMS[purpose], description, plan_digest=digest)
        try:
            submitted = pause_flow_run(wait_for_input=form, timeout=timeout_s, poll_interval=poll_s)
        except FlowPauseTimeout:
            return None
        return submitted.answer()


def paused_run(change_id: str) -> UUID | None:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(like_=f"{change_id}-"),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])),
            )
        )
    runs = [r for r in runs if r.name.startswith(f"{change_id}-")]
    return runs[0].id if runs else None


def wait_for_pause(change_id: str, timeout_s: float = 60.0, poll_s: float = 0.25) -> UUID:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run_id = paused_run(change_id)
        if run_id is not None:
            return run_id
        time.sleep(poll_s)
    raise NotWaitingForApproval(f"{change_id} did not pause for approval within {timeout_s:.0f}s")


def submit_decision(
    change_id: str,
    approver: str,
    approve: bool,
    comment: str = "",
    wait_s: float = 0.0,
    proof: Callable[[], dict] | None = None,
) -> UUID:
    """Resume the change's paused run with a decision; ``wait_s`` > 0 waits for it to pause first.
    ``proof()`` (called once the run waits: the plan is fixed by then) adds ``plan_digest`` and a
    ``signature`` or ``code``."""
    run_id = wait_for_pause(change_id, wait_s) if wait_s > 0 else paused_run(change_id)
    if run_id is None:
        raise NotWaitingForApproval(f"{change_id} is not waiting for approval (no paused flow run named {change_id}-…)")
    resume_flow_run(
        run_id,
        run_input={
            "decision": "approve" if approve else "reject",
            "approver": approver,
            "code": "",
            "comment": comment,
            **(proof() if proof else {}),
        },
    )
    return run_id


class DecisionsInBackground:
    """Give ``decisions`` [(approver, approve, comment)] one per pause, from a thread (the demo's approvers).

    ``with DecisionsInBackground("CHG-0002", [("carol", True, "ok")]) as approvers: run the flow``;
    after the block ``approvers.error`` holds what went wrong, if anything.
    """

    def __init__(
        self,
        change_id: str,
        decisions: list[tuple[str, bool, str]],
        wait_s: float = 120.0,
        proof: Callable[[str, bool], dict] | None = None,
    ) -> None:
        """``proof(approver, approve)``: each decision's proof of identity (e.g. ``credentials.signed_proof``)."""
        self.change_id, self.decisions, self.wait_s, self.proof = change_id, decisions, wait_s, proof
        self.error: Exception | None = None
        # in the caller's context: a Prefect API named by ``temporary_settings`` is the one the flow runs on
        self._thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._run,), name=f"approvers-{change_id}", daemon=True
        )

    def _run(self) -> None:
        try:
            for approver, approve, comment in self.decisions:
                proof = (lambda a=approver, ok=approve: self.proof(a, ok)) if self.proof else None
                submit_decision(self.change_id, approver, approve, comment, wait_s=self.wait_s, proof=proof)
                time.sleep(0.3)  # let the flow take the decision before looking for its next pause
        except Exception as exc:  # reported by the caller after the flow ends
            self.error = exc

    def __enter__(self) -> DecisionsInBackground:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._thread.join(timeout=30)
