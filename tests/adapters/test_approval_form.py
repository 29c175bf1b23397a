"""The approval form as the Prefect UI shows it and Prefect's server checks a resume against it: an
explicit choice with no default, name and code required, every field described. The schema is the one
``pause_flow_run`` saves and the validator the one the server runs on resume; no server is started."""

from __future__ import annotations

import pytest
from prefect._internal.pydantic.v2_schema import create_v2_schema
from prefect.utilities.schema_tools import ValidationError, validate

from changeflow.adapters.prefect_approvals import FORMS, prefilled

VALID = {"decision": "approve", "approver": "carol", "code": "123456"}


@pytest.fixture(params=sorted(FORMS))
def form(request):
    return prefilled(FORMS[request.param], "## Approve change CHG-0001?", plan_digest="ab" * 32)


def schema_of(form) -> dict:
    return create_v2_schema(form.__name__, model_base=form)  # what pause_flow_run(wait_for_input=form) saves


def test_the_choice_has_no_default_and_name_and_code_are_required(form):
    schema = schema_of(form)
    assert schema["required"] == ["decision", "approver", "code"]
    assert schema["properties"]["decision"]["enum"] == ["approve", "reject"]
    assert all("default" not in schema["properties"][name] for name in schema["required"])
    assert schema["properties"]["plan_digest"]["default"] == "ab" * 32  # shown, pre-filled
    assert all(field.get("description") for field in schema["properties"].values())


@pytest.mark.parametrize(
    "sent",
    [
        {},
        {"approver": "carol", "code": "123456"},  # no choice: not a yes, not a no
        {**VALID, "decision": "maybe"},
        {**VALID, "approver": ""},
        {"decision": "approve", "approver": "carol"},  # no code (`changeflow approve` sends code "" and signs)
        {**VALID, "approve": True},  # the old form's field
    ],
)
def test_prefect_refuses_a_resume_the_form_does_not_allow(form, sent):
    with pytest.raises(ValidationError):
        validate(sent, schema_of(form), raise_on_error=True)


def test_a_well_formed_decision_passes_and_reads_as_the_choice(form):
    validate(VALID, schema_of(form), raise_on_error=True)
    validate({**VALID, "decision": "reject", "code": "", "signature": "c2ln"}, schema_of(form), raise_on_error=True)
    assert form(**VALID).answer().approve is True
    assert form(**{**VALID, "decision": "reject"}).answer().approve is False


def test_whatever_reaches_the_worker_loads_and_an_unchosen_decision_reads_as_malformed(form):
    """Past the server (someone writing the run's input directly), the worker still judges, never crashes."""
    assert form().answer().approve is None
    assert form(decision="maybe", approver="carol").answer().approve is None
