"""One change at a time per model: a Prefect global concurrency limit of 1, created before use.

Measured in Prefect 3.8.8: acquiring a limit that does not exist logs "skipping acquisition" and does
not serialise anything, so the limit is created first and acquired with ``strict=True``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists


def limit_name(model: str) -> str:
    return "changeflow-model-" + re.sub(r"[^a-z0-9-]", "-", model.lower())


def ensure_limit(name: str) -> None:
    with get_client(sync_client=True) as client:
        try:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        except ObjectAlreadyExists:
            pass


@contextmanager
def model_lock(model: str, timeout_s: float) -> Iterator[str]:
    """Hold the model's change slot; waits up to ``timeout_s`` for another change to finish."""
    name = limit_name(model)
    ensure_limit(name)
    with concurrency(name, occupy=1, timeout_seconds=timeout_s, strict=True):
        yield name
