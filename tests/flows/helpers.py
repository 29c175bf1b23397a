"""Helpers shared by flow tests."""

import time

from changeflow.exceptions import RecordNotFound


def wait_for_step(store, change_id: str, step: str, timeout_s: float = 60.0) -> None:
    """Wait until the change's record shows ``step`` started (e.g. ``monitor``: promoted, baking)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            record = store.load(change_id)
        except (RecordNotFound, ValueError):  # not written yet, or caught mid-replace
            record = None
        if record and any(s.name == step for s in record.execution_steps + record.verification_steps):
            return
        time.sleep(0.2)
    raise AssertionError(f"{change_id} did not reach step {step} within {timeout_s:.0f}s")


def signer(records, change_id: str):
    """Each decision signed with the approver's enrolled key (what `changeflow approve` sends)."""
    from changeflow.adapters.credentials import signed_proof
    from changeflow.settings.defaults import approver_keys_dir

    return lambda who, approve: signed_proof(records, approver_keys_dir(), change_id, who, approve)
