"""Production observed around a step that works beside it, so the record says what was seen, not assumed.

Staging a candidate must leave production as it was. A staging endpoint that is production under a second
name (a DNS alias, a load balancer in front of the one Triton) would load the candidate on production while
the record still says "untouched", and compensation, which trusts the record, would leave it serving. So
such a step observes production's model before and after its work, the way the drift check does (READY
versions, the served config's digest and the repository file's), and says what it saw:

- unchanged: a PASS verdict that names what production serves;
- changed: the record says production was touched, and a FAIL verdict names what changed, so the change
  is rolled back through the one compensation path instead of being aborted as "untouched";
- not observable afterwards: taken as touched (the record never claims what it did not see), raised.

The first observation is kept on the record, so a retried step compares with what production served
before the first attempt, not with what the attempt left.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from changeflow.domain.drift import Snapshot, Target, compare
from changeflow.domain.verdicts import Outcome, Verdict
from changeflow.exceptions import ChangeflowError, ServerUnavailable, ServingMismatch
from changeflow.services.drift_targets import LiveServices, TritonModelWatcher
from changeflow.services.recorder import Recorder, utc_now

BEFORE = "production_before_{step}"  # record attachment: production's model as the step first saw it


class ProductionWatch:
    """What the block saw: ``before`` at its start; ``verdict`` once it ended without raising."""

    def __init__(self, before: Snapshot) -> None:
        self.before = before
        self.verdict: Verdict | None = None


def observe(services: LiveServices, model: str) -> Snapshot:
    """Production's ``model`` as the drift check sees it, with the repository file as a digest (a fact)."""
    target = Target(kind="triton_model", where=services.production.name, name=model, model=model)
    seen = TritonModelWatcher().observe(services, target, utc_now())
    file_text = seen.keep.pop("config_file", None)
    if file_text is not None:
        seen.facts["config_file_sha256"] = hashlib.sha256(file_text.encode()).hexdigest()[:16]
    return seen


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """Each fact of production that differs, then which served config fields (empty: unchanged)."""
    found = [str(change) for change in compare(before, after)]
    return found + TritonModelWatcher().explain(before, after) if found else []


@contextmanager
def production_watched(run: Recorder, services: LiveServices, model: str, step: str) -> Iterator[ProductionWatch]:
    """Observe production's ``model`` around the block (see the module docstring); ``step`` names the
    step in messages and keys its first observation on the record."""
    name = services.production.name
    before = Snapshot.model_validate_json(
        run.attach(BEFORE.format(step=step), lambda: observe(services, model).model_dump_json())
    )
    watch = ProductionWatch(before)
    try:
        yield watch
    except Exception as failure:
        changed = _after(run, services, watch, step, failure)
        if changed:
            raise ServingMismatch(
                f"production changed during {step}: {name}: {'; '.join(changed)} ({step} failed: {failure})"
            ) from failure
        raise
    changed = _after(run, services, watch, step, None)
    if changed:
        watch.verdict = Verdict(
            outcome=Outcome.FAIL, reason=f"production changed during {step}: {name}: {'; '.join(changed)}"
        )
    else:
        watch.verdict = Verdict(
            outcome=Outcome.PASS,
            reason=f"production unchanged: {name} READY {before.facts.get('ready_versions')}, same config",
        )


def _after(
    run: Recorder, services: LiveServices, watch: ProductionWatch, step: str, failure: Exception | None
) -> list[str]:
    """Observe again; a change, or no observation at all, marks the record touched before anything else."""
    try:
        after = observe(services, watch.before.target.model)
    except ChangeflowError as exc:
        run.touching_production()
        also = f"; {step} failed: {failure}" if failure is not None else ""
        raise ServerUnavailable(
            f"production ({services.production.name}) could not be observed after {step}, taken as touched: "
            f"{exc.__class__.__name__}: {exc}{also}"
        ) from exc
    changed = changes(watch.before, after)
    if changed:
        run.touching_production()
    return changed
