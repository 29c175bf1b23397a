"""Validation budgets for a streaming model (#26): a golden set bounds the first response and the gaps
between responses (p95, at the client); over budget fails, a budget nothing measured is not a pass, and a
stream budget on a model that does not stream is refused where the golden set is bound."""

import numpy as np
import pytest

from changeflow.domain.golden import GoldenSet, bind
from changeflow.domain.streams import StreamResult
from changeflow.domain.verdicts import CaseObservation, Outcome, assess_golden
from changeflow.exceptions import GoldenSetMismatch
from changeflow.ports import InferenceResult
from changeflow.services.verification import observe_case
from tests.domain.test_golden_streams import SIG, SKIP_LOGPROB, TOKENS, UNARY, golden_data, stream
from tests.fakes import FakeModelServer


def bound(budgets, signature=SIG):
    return bind(GoldenSet.model_validate({**golden_data(SKIP_LOGPROB), "latency_budget_ms": budgets}), signature)


def observed(first_ms, gap_ms):
    return [CaseObservation(outputs=stream(TOKENS), latency_ms=first_ms, gaps_ms=(gap_ms,) * (len(TOKENS) - 1))]


def test_a_slow_first_response_or_slow_gaps_fail_validation_naming_the_budget():
    budgets = bound({"first_response_p95": 50, "gap_p95": 10})
    assert assess_golden(budgets, observed(20.0, 4.0)).outcome is Outcome.PASS
    slow_first = assess_golden(budgets, observed(80.0, 4.0))
    assert slow_first.outcome is Outcome.FAIL and "first_response_p95 80.0 ms > budget 50.0 ms" in slow_first.reason
    slow_gaps = assess_golden(budgets, observed(20.0, 12.5))
    assert slow_gaps.outcome is Outcome.FAIL and "gap_p95 12.5 ms > budget 10.0 ms" in slow_gaps.reason
    assert assess_golden(budgets, observed(20.0, float("nan"))).outcome is Outcome.FAIL  # NaN is within no budget


def test_a_gap_budget_with_no_gap_observed_is_not_a_pass():
    verdict = assess_golden(bound({"gap_p95": 10}), [CaseObservation(outputs=stream(TOKENS), latency_ms=20.0)])
    assert verdict.outcome is Outcome.INCONCLUSIVE and "gap_p95: no gap observed" in verdict.reason


@pytest.mark.parametrize("budget", ["first_response_p95", "gap_p95"])
def test_a_stream_budget_on_a_model_that_does_not_stream_is_refused(budget):
    with pytest.raises(GoldenSetMismatch) as refused:
        bound({budget: 10}, UNARY)
    assert refused.value.field == f"latency_budget_ms.{budget}" and "does not stream" in refused.value.problem


def test_observing_a_stream_keeps_its_gaps_for_the_budget():
    class Streaming(FakeModelServer):
        def infer(self, model, inputs, version=None, datatypes=None):
            answer = stream(TOKENS)
            arrivals = tuple(0.020 + 0.004 * i for i in range(len(TOKENS)))
            streamed = StreamResult(model, tuple({} for _ in TOKENS), arrivals, arrivals[-1], completed=True, version=1)
            return InferenceResult(model, 1, answer, latency_ms=20.0, server=self.name, stream=streamed)

    seen, version = observe_case(Streaming(lambda *a: {}, ready={"writer": [1]}), bound({}), 0)
    assert version == 1 and len(seen.gaps_ms) == len(TOKENS) - 1
    assert np.allclose(seen.gaps_ms, 4.0)
