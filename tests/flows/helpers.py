"""Helpers shared by flow tests."""

from changeflow.local.drills import await_record, started


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
