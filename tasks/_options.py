"""Options every change step shares: retry only what is transient, never cache (steps have effects)."""

from __future__ import annotations

from prefect.cache_policies import NO_CACHE

from changeflow.exceptions import ServerUnavailable


def transient_only(task, task_run, state) -> bool:
    """Retry when the server did not answer; a refusal or a wrong answer is not retried."""
    return isinstance(state.data, ServerUnavailable)


STEP = dict(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1, retry_condition_fn=transient_only)
NO_RETRY = dict(cache_policy=NO_CACHE, retries=0)
