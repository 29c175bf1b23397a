"""Helpers shared by flow tests."""

from changeflow.local.drills import await_record, started


def change(name, **updates):
    """An example request with fields replaced, validated again (as a user's edit would be)."""
    from changeflow.domain.request import ChangeRequest
    from changeflow.settings.loader import load_change_request
    from tests.conftest import EXAMPLES

    data = load_change_request(EXAMPLES / "changes" / name).model_dump(mode="json")
    data["change"].update(updates.pop("change", {}))
    return ChangeRequest.model_validate({**data, **updates})


def execute_as_scheduled(kind_flow, request, environment, governance):
    """Run a kind's execution flow directly (its record opened as a direct execution) under the model's
    lock on Prefect's server, as ``flows.governed.execute_scheduled`` runs it for an approved change. How a
    change gets approved and scheduled is tested with fakes in ``tests/governed``."""
    from changeflow.bootstrap import bootstrap

    with bootstrap(environment).locks.hold(request.model, governance.lock_timeout_s):
        return kind_flow(request, environment, governance=governance)


def wait_for_step(store, change_id: str, step: str, timeout_s: float = 60.0) -> None:
    """Wait until the change's record shows ``step`` started (e.g. ``monitor``: promoted, baking)."""
    try:
        await_record(store, change_id, lambda record: started(record, step), timeout_s, poll_s=0.2)
    except TimeoutError:
        raise AssertionError(f"{change_id} did not reach step {step} within {timeout_s:.0f}s") from None


def signer(records, change_id: str):
    """Each decision signed with the approver's enrolled key (what `changeflow approve` sends)."""
    from changeflow.adapters.credentials import signed_proof
    from changeflow.settings.defaults import approver_keys_dir

    return lambda who, approve: signed_proof(records, approver_keys_dir(), change_id, who, approve)
