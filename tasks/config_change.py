"""Config change steps: keep the exact previous bytes, apply the settings, reload, verify; and the revert.

The served version policy is carried over on every reload, so a config change never changes which
versions serve (the file's own policy may lag behind a promotion done by override).
"""

from __future__ import annotations

import time

from changeflow.tasks._options import STEP
from prefect import get_run_logger, task

from changeflow.adapters.triton import with_versions
from changeflow.bootstrap import Services
from changeflow.domain.model_config import apply_settings, render_config, sample_inputs
from changeflow.domain.record import Phase
from changeflow.domain.request import VERIFY_RESTORED
from changeflow.domain.verdicts import Outcome, Verdict
from changeflow.exceptions import ChangeStateError, ServerError
from changeflow.kinds import config_change
from changeflow.kinds.config_change import BACKUP, config_problem, digest
from changeflow.services.recorder import Recorder


def _reload(services: Services, model: str) -> None:
    """Reload ``model`` with its repository config, keeping the versions production serves now."""
    config = services.config_store().read_config(model)
    live = services.production.ready_versions(model)
    services.production.load(model, with_versions(config, live) if live else config)


@task(name="backup-config", **STEP)
def backup_config(run: Recorder, services: Services, model: str) -> str:
    """Keep the exact previous config.pbtxt on the record (once); returns its digest."""
    with run.step(Phase.EXECUTION, config_change.BACKUP_CONFIG) as step:
        kept = run.attach(BACKUP, lambda: services.config_store().read_config_text(model))
        step.detail = f"{model}/config.pbtxt kept on the record (sha256 {digest(kept)})"
        get_run_logger().info(step.detail)
        return digest(kept)


@task(name="apply-config", **STEP)
def apply_config(run: Recorder, services: Services, model: str, settings: dict) -> None:
    store = services.config_store()
    with run.step(Phase.EXECUTION, config_change.APPLY_CONFIG) as step:
        changed = apply_settings(store.read_config(model), settings)  # raises on a bad path before writing
        run.touching_production()
        store.write_config_text(model, render_config(changed))
        step.detail = "set " + ", ".join(f"{k}={v!r}" for k, v in settings.items())
        get_run_logger().info("%s/config.pbtxt: %s", model, step.detail)


@task(name="reload", **STEP)
def reload_model(run: Recorder, services: Services, model: str) -> None:
    with run.step(Phase.EXECUTION, config_change.RELOAD) as step:
        _reload(services, model)
        step.detail = f"{model} reloaded with its repository config on {services.production.name}"
        get_run_logger().info(step.detail)


@task(name="restore-config", **STEP)
def restore_config(run: Recorder, services: Services, model: str) -> float:
    """Write back the exact previous bytes and reload; returns the milliseconds it took."""
    backup = run.record.attachments.get(BACKUP)
    with run.step(Phase.ROLLBACK, config_change.RESTORE_CONFIG) as step:
        if backup is None:
            raise ChangeStateError(f"no saved config on {run.record.id}: nothing to restore from")
        started = time.perf_counter()
        services.config_store().write_config_text(model, backup)
        _reload(services, model)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        step.detail = f"{model}/config.pbtxt restored byte for byte and reloaded ({elapsed_ms:.0f} ms)"
        get_run_logger().warning(step.detail)
        return elapsed_ms


@task(name="verify-config", **STEP)
def verify_config(
    run: Recorder,
    services: Services,
    model: str,
    phase: Phase,
    settings: dict | None = None,
    expect_previous: bool = False,
) -> Verdict:
    """The served config shows ``settings`` (or, after a revert, is the previous one), and a smoke
    inference built from the served config's own inputs answers."""
    previous = run.record.attachments[BACKUP] if expect_previous else None
    with run.step(phase, VERIFY_RESTORED if expect_previous else config_change.VERIFY_CONFIG) as step:
        served = services.production.model_config(model)
        current = services.config_store().read_config_text(model) if previous is not None else None
        problem = config_problem(served, settings, previous, current)
        if problem is None:
            try:
                services.production.infer(model, sample_inputs(served))
            except ServerError as exc:
                problem = f"smoke inference failed: {exc}"
        if problem:
            verdict = Verdict(outcome=Outcome.FAIL, reason=problem)
            step.fail(str(verdict))
        else:
            what = (
                "previous config restored byte for byte and served" if previous is not None else "new settings served"
            )
            verdict = Verdict(outcome=Outcome.PASS, reason=f"{what}; smoke inference answered")
            step.detail = str(verdict)
        get_run_logger().info("%s config: %s", model, verdict)
        return verdict
