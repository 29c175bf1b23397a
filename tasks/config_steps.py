"""Config change steps: keep the exact previous bytes, apply the settings, reload, verify; and the revert.

The served version policy is carried over on every reload, so a config change never changes which
versions serve (the file's own policy may lag behind a promotion done by override).
"""

from __future__ import annotations

import hashlib
import time

from prefect import get_run_logger, task

from changeflow.adapters.factory import config_store, model_server
from changeflow.adapters.model_config import apply_settings, differences, parse_config, render_config, sample_inputs, setting_of, with_versions
from changeflow.domain.record import Phase
from changeflow.domain.verdict import Outcome, Verdict
from changeflow.environment import Environment
from changeflow.exceptions import ChangeflowError, ServerError
from changeflow.recorder import Recorder
from tasks._common import STEP

BACKUP = "config.pbtxt.before"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _reload(environment: Environment, model: str) -> None:
    """Reload ``model`` with its repository config, keeping the versions production serves now."""
    production = model_server(environment.production)
    config = config_store(environment.production).read_config(model)
    live = production.ready_versions(model)
    production.load(model, with_versions(config, live) if live else config)


@task(name="backup-config", **STEP)
def backup_config(recorder: Recorder, environment: Environment, model: str) -> str:
    """Keep the exact previous config.pbtxt on the record; returns its digest."""
    with recorder.step(Phase.EXECUTION, "backup_config") as step:
        if BACKUP not in recorder.record.attachments:  # a re-run must never replace the true original
            text = config_store(environment.production).read_config_text(model)
            recorder.note(attachments={**recorder.record.attachments, BACKUP: text})
        digest = _digest(recorder.record.attachments[BACKUP])
        step.detail = f"{model}/config.pbtxt kept on the record (sha256 {digest})"
        get_run_logger().info(step.detail)
        return digest


@task(name="apply-config", **STEP)
def apply_config(recorder: Recorder, environment: Environment, model: str, settings: dict) -> None:
    store = config_store(environment.production)
    with recorder.step(Phase.EXECUTION, "apply_config") as step:
        changed = apply_settings(store.read_config(model), settings)  # raises on a bad path before writing
        recorder.note(production_touched=True)
        store.write_config_text(model, render_config(changed))
        step.detail = "set " + ", ".join(f"{k}={v!r}" for k, v in settings.items())
        get_run_logger().info("%s/config.pbtxt: %s", model, step.detail)


@task(name="reload", **STEP)
def reload_model(recorder: Recorder, environment: Environment, model: str, phase: Phase = Phase.EXECUTION) -> None:
    with recorder.step(phase, "reload") as step:
        _reload(environment, model)
        step.detail = f"{model} reloaded with its repository config on {environment.production.name}"
        get_run_logger().info(step.detail)


@task(name="restore-config", **STEP)
def restore_config(recorder: Recorder, environment: Environment, model: str) -> float:
    """Write back the exact previous bytes and reload; returns the milliseconds it took."""
    backup = recorder.record.attachments.get(BACKUP)
    with recorder.step(Phase.ROLLBACK, "restore_config") as step:
        if backup is None:
            raise ChangeflowError(f"no saved config on {recorder.record.id}: nothing to restore from")
        started = time.perf_counter()
        config_store(environment.production).write_config_text(model, backup)
        _reload(environment, model)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        step.detail = f"{model}/config.pbtxt restored byte for byte and reloaded ({elapsed_ms:.0f} ms)"
        get_run_logger().warning(step.detail)
        return elapsed_ms


def _config_verdict(environment: Environment, model: str, settings: dict | None, previous_text: str | None) -> Verdict:
    production = model_server(environment.production)
    served = production.model_config(model)
    if settings:
        wrong = [f"{path} is {setting_of(served, path)!r}, expected {value!r}" for path, value in settings.items() if str(setting_of(served, path)) != str(value)]
        if wrong:
            return Verdict(outcome=Outcome.FAIL, reason="served config: " + "; ".join(wrong))
    if previous_text is not None:
        current = config_store(environment.production).read_config_text(model)
        if current != previous_text:
            return Verdict(outcome=Outcome.FAIL, reason=f"config.pbtxt sha256 {_digest(current)} != previous {_digest(previous_text)}")
        previous = parse_config(previous_text)
        previous.ClearField("version_policy")  # serving versions are carried over, not restored
        if drift := differences(previous, served):
            return Verdict(outcome=Outcome.FAIL, reason="served config differs from the previous one: " + "; ".join(drift[:3]))
    try:
        production.infer(model, sample_inputs(served))
    except ServerError as exc:
        return Verdict(outcome=Outcome.FAIL, reason=f"smoke inference failed: {exc}")
    what = "previous config restored byte for byte and served" if previous_text is not None else "new settings served"
    return Verdict(outcome=Outcome.PASS, reason=f"{what}; smoke inference answered")


@task(name="verify-config", **STEP)
def verify_config(
    recorder: Recorder, environment: Environment, model: str, phase: Phase, settings: dict | None = None, expect_previous: bool = False
) -> Verdict:
    previous = recorder.record.attachments[BACKUP] if expect_previous else None
    with recorder.step(phase, "verify_restored" if expect_previous else "verify_config") as step:
        verdict = _config_verdict(environment, model, settings, previous)
        step.detail = str(verdict)
        if not verdict.passed:
            step.fail(str(verdict))
        get_run_logger().info("%s config: %s", model, verdict)
        return verdict
