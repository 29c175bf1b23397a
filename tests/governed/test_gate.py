"""The one decision gate (``services.approval_gate.gather``) and the doubtful bake that goes through it
(``flows.doubt``, ``Execution.require_bake``): quorum, refusals kept, rejection, timeout; fakes only."""

from __future__ import annotations

import logging

from changeflow.flows.compensation import Execution
from changeflow.flows.doubt import ask_on_doubt

from changeflow.domain.decisions import Answer, GateOutcome
from changeflow.domain.policy import Decision, Judgement
from changeflow.domain.record import ChangeRecord, State
from changeflow.domain.verdicts import Outcome, Verdict
from changeflow.services.approval_gate import gather
from changeflow.services.recorder import Recorder, utc_now
from tests.governed.conftest import ScriptedDecisions
from tests.governed.test_sequence import KindDouble, change

LOG = logging.getLogger("test")
DOUBT = Verdict(outcome=Outcome.INCONCLUSIVE, reason="12 of 40 samples")


def plain_weigh(answer: Answer, already: list[str]):
    """Counts anyone named, once; refuses a blank name."""
    decision = Decision(approve=bool(answer.approve), approver=answer.approver)
    ok = bool(answer.approver) and answer.approver not in already
    return (
        decision,
        Judgement(accepted=ok, reason=f"{answer.approver or '(blank)'} {'counted' if ok else 'refused'}"),
        answer.approver,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def ask_gate(script, required=2, timeout_s=60, clock=None, source=None):
    kept = []
    source = source or ScriptedDecisions(script, signed=False)
    result = gather(
        source,
        purpose="approval",
        weigh=plain_weigh,
        keep=kept.append,
        form=lambda a, r: f"{a} {r}",
        digest="d",
        required=required,
        timeout_s=timeout_s,
        poll_s=1,
        log=LOG,
        **({"clock": clock} if clock else {}),
    )
    return result, kept, source


def test_the_quorum_counts_each_person_once_and_keeps_every_answer():
    result, kept, _ = ask_gate([("carol", True), ("", True), ("carol", True), ("dave", True)])
    assert result.outcome is GateOutcome.APPROVED and result.approved_by == ["carol", "dave"]
    assert kept == ["carol", "", "carol", "dave"] and result.refusals == ["(blank) refused", "carol refused"]


def test_a_counted_rejection_ends_it_at_once():
    result, kept, source = ask_gate([("carol", True), ("dave", False), ("frank", True)])
    assert result.outcome is GateOutcome.REJECTED and result.decided_by == "dave" and result.approved_by == ["carol"]
    assert source.script == [("frank", True)]  # never asked again


def test_no_answer_in_time_expires_without_the_quorum():
    result, _, _ = ask_gate([("carol", True)])
    assert result.outcome is GateOutcome.EXPIRED and result.approved_by == ["carol"]


def test_the_deadline_is_kept_across_asks():
    clock = Clock()
    timeouts = []

    class Slow(ScriptedDecisions):
        def ask(self, purpose, description, digest, timeout_s, poll_s):
            timeouts.append(timeout_s)
            clock.now += 40  # each answer takes 40 s of the 60
            return super().ask(purpose, description, digest, timeout_s, poll_s)

    result, kept, _ = ask_gate(
        None, required=3, clock=clock, source=Slow([("carol", True), ("dave", True), ("frank", True)], signed=False)
    )
    assert timeouts == [60, 20]  # the second waits only for what is left; the third is never asked
    assert result.outcome is GateOutcome.EXPIRED and kept == ["carol", "dave"]


def the_doubtful(services, governance):
    request = change("normal-deploy-v2.yaml")
    record = ChangeRecord.open(request, "medium", utc_now())
    return request, Recorder(record, services.records)


def test_a_doubtful_bake_is_promoted_only_by_a_proven_entitled_approver(fake_services, governance):
    request, recorder = the_doubtful(fake_services, governance)
    recorder.note()
    fake_services.decisions = ScriptedDecisions([("alice", True), ("carol", True)], request.id)
    promote, why = ask_on_doubt(recorder, fake_services, request, DOUBT, ["p50 4.1 ms vs 3.9 ms"], governance)
    assert promote and why.startswith("promoted anyway by carol")
    kept = fake_services.records.load(request.id).bake_decisions
    assert [(d.approver, d.counted) for d in kept] == [("alice", False), ("carol", True)]
    assert kept[1].proof == "ed25519" and "cannot approve" in kept[0].refusal
    assert fake_services.decisions.asked[0][0] == "bake" and "did not pass" in fake_services.decisions.asked[0][1]


def test_a_doubtful_bake_rolls_back_on_a_rejection_or_on_silence(fake_services, governance):
    request, recorder = the_doubtful(fake_services, governance)
    recorder.note()
    fake_services.decisions = ScriptedDecisions([("dave", False)], request.id)
    assert ask_on_doubt(recorder, fake_services, request, DOUBT, [], governance) == (
        False,
        "roll back decided by dave (dave via test)",
    )
    fake_services.decisions = ScriptedDecisions([], request.id)
    promote, why = ask_on_doubt(recorder, fake_services, request, DOUBT, [], governance)
    assert not promote and why == f"no decision within {governance.verification.decision_timeout_s}s"


def test_the_compensation_guard_asks_on_doubt_and_rolls_back_without_a_promotion(fake_services, governance):
    request = change("normal-deploy-v2.yaml")
    kind = KindDouble(fake_services)
    fake_services.decisions = ScriptedDecisions([("carol", False)], request.id)
    with Execution(request, fake_services, None, request.kind, governance=governance, roll_back=kind.roll_back) as run:
        run.recorder.touching_production()
        run.verifying("promoted beside v1")
        run.require_bake(DOUBT, ["too few samples"])
        run.close("never reached")
    assert run.result.state is State.ROLLED_BACK
    assert kind.rolled_back == [f"{DOUBT}; roll back decided by carol (carol via test)"]


def test_an_exception_after_production_was_touched_rolls_back_and_is_raised(fake_services, governance):
    import pytest

    request = change("normal-deploy-v2.yaml")
    kind = KindDouble(fake_services)
    with pytest.raises(RuntimeError, match="server went away"):
        with Execution(
            request, fake_services, None, request.kind, governance=governance, roll_back=kind.roll_back
        ) as run:
            run.recorder.touching_production()
            raise RuntimeError("server went away")
    assert kind.rolled_back == ["RuntimeError: server went away"]
    assert fake_services.records.load(request.id).state is State.ROLLED_BACK


def test_a_failed_tidy_up_is_recorded_beside_the_abort(fake_services, governance):
    request = change("normal-deploy-v2.yaml")

    def tidy(run):
        raise OSError("green Deployment not deleted")

    with Execution(request, fake_services, None, request.kind, on_abort=tidy, governance=governance) as run:
        run.require(
            Verdict(outcome=Outcome.FAIL, reason="2 of 10 differ"),
            abort="validation failed in staging, production untouched",
        )
    assert run.result.state is State.ABORTED
    assert (
        "validation failed in staging" in run.result.outcome
        and "tidying up failed: OSError: green Deployment not deleted" in run.result.outcome
    )
