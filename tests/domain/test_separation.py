"""A run created from a deployment carries the change request only; the executor's configuration is not
the requester's to send."""

from changeflow.domain.separation import run_refusal

NONE = {"environment": False, "governance": False, "now": False}


def test_a_deployment_run_with_the_request_only_proceeds_and_in_process_callers_are_the_executor():
    assert run_refusal(False, NONE, {}) is None
    assert run_refusal(True, {"governance": True, "now": True}, {"env": {"X": "1"}}) is None


def test_each_executor_owned_parameter_and_any_job_variable_is_refused_by_name():
    refused = run_refusal(False, {**NONE, "governance": True, "now": True}, {})
    assert refused.startswith("refused: run parameter(s) governance, now are the executor's configuration")
    assert "nothing was assessed" in refused
    assert "job variable(s) command, env" in run_refusal(False, NONE, {"env": {}, "command": "sh"})


def test_an_untrusted_caller_in_process_brings_no_governance_clock_or_environment():
    refused = run_refusal(False, {**NONE, "governance": True}, {})
    assert refused.startswith("refused: run parameter(s) governance are the executor's configuration")
    assert run_refusal(False, NONE, {}) is None
