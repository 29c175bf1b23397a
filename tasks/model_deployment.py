"""Model deployment steps: check what serves, stage, validate, promote (warm standby), finalize; and the
rollback's restore and its verification. Each is one retryable step that writes itself to the record."""

from __future__ import annotations

import time

from changeflow.tasks._options import STEP
from prefect import get_run_logger, task

from changeflow.adapters.fleet import FleetLoadError, answering, back_in_line, ready_everywhere, unreachable_only
from changeflow.bootstrap import Services
from changeflow.domain.record import Phase
from changeflow.domain.request import VERIFY_RESTORED
from changeflow.domain.verdicts import Outcome, Verdict, assess_golden
from changeflow.exceptions import ModelNotReady, ServingMismatch
from changeflow.kinds import model_deployment
from changeflow.kinds.model_deployment import promotion_versions, standby_possible
from changeflow.services.production_watch import production_watched
from changeflow.services.recorder import Recorder
from changeflow.services.verification import DIGEST, bound_golden, observe_golden, probe


@task(name="check-serving-version", **STEP)
def check_serving_version(run: Recorder, services: Services, model: str, expected: int | None, candidate: int) -> int:
    """The version production serves now; refuses when the request expected another one, or when the
    candidate already serves (nothing would change)."""
    with run.step(Phase.EXECUTION, model_deployment.CHECK_SERVING_VERSION) as step:
        versions = services.production.ready_versions(model)
        if not versions:
            raise ModelNotReady(f"{services.production.name}: {model} has no READY version; nothing to change from")
        serving = max(versions)
        if expected is not None and expected != serving:
            raise ServingMismatch(
                f"production serves {model} v{serving}, the request expects v{expected}; refile with from_version: {serving}"
            )
        if serving == candidate:
            raise ServingMismatch(f"production already serves {model} v{candidate}: nothing to deploy")
        run.note(serving_version_before=serving)
        step.detail = f"production serves {model} {versions}; v{serving} answers unversioned requests"
        get_run_logger().info(step.detail)
        return serving


@task(name="stage", **STEP)
def stage(run: Recorder, services: Services, model: str, version: int) -> Verdict:
    """Load the candidate on the staging server with production's config and wait for READY. Production is
    observed before and after: a FAIL says what changed there, and the record says production was touched."""
    with run.step(Phase.EXECUTION, model_deployment.STAGE) as step:
        with production_watched(run, services, model, model_deployment.STAGE) as production:
            services.staging.load_versions(model, [version], base_config=services.production.model_config(model))
        verdict = production.verdict
        step.detail = f"{model} v{version} READY on {services.staging.name}; {verdict.reason}"
        if not verdict.passed:
            step.fail(str(verdict))
        get_run_logger().info(step.detail)
        return verdict


@task(name="validate", **STEP)
def validate(run: Recorder, services: Services, golden_set: str, version: int) -> Verdict:
    """The golden set against the staged version; a FAIL aborts the change before production."""
    with run.step(Phase.EXECUTION, model_deployment.VALIDATE) as step:
        golden = bound_golden(services.staging, golden_set, run.record.attachments.get(DIGEST))
        verdict = assess_golden(golden, observe_golden(services.staging, golden, version=version))
        step.detail = str(verdict)
        if not verdict.passed:
            step.fail(str(verdict))
        get_run_logger().info("validation of %s v%s on staging: %s", golden.model, version, verdict)
        return verdict


@task(name="promote", **STEP)
def promote(
    run: Recorder,
    services: Services,
    model: str,
    old: int,
    new: int,
    step_name: str = model_deployment.PROMOTE,
    phase: Phase = Phase.EXECUTION,
) -> None:
    """Production loads [old, new] (unversioned traffic moves to new, old stays warm), or [new] alone
    when going back to a lower version number. On a wave (``services`` narrowed to its replicas), only those
    load; the repository says [old, new] from the first wave on. ``step_name``: ``widen`` for a later wave."""
    with run.step(phase, step_name) as step:
        run.touching_production()
        versions = promotion_versions(old, new)
        rollout = services.production.load_versions(model, versions)
        standby = (
            f"v{old} stays warm"
            if standby_possible(old, new)
            else f"no warm standby (v{new} < v{old}): a rollback reloads v{old}"
        )
        step.detail = (
            f"{model} serving {versions} on {services.production.name}; v{new} takes unversioned traffic; {standby}"
            + (f"; {rollout.summary()}" if rollout else "")
        )
        get_run_logger().info(step.detail)


@task(name="finalize", **STEP)
def finalize(run: Recorder, services: Services, model: str, new: int) -> None:
    """Unload the old version once the new one has baked."""
    with run.step(Phase.VERIFICATION, model_deployment.FINALIZE) as step:
        rollout = services.production.load_versions(model, [new])
        step.detail = f"{model} serving [{new}] only; previous version unloaded" + (
            f"; {rollout.summary()}" if rollout else ""
        )
        get_run_logger().info(step.detail)


@task(name="restore-version", **STEP)
def restore_version(run: Recorder, services: Services, model: str, version: int) -> float:
    """Serve the previous version again (warm when still loaded: milliseconds); returns the milliseconds."""
    with run.step(Phase.ROLLBACK, model_deployment.RESTORE_VERSION) as step:
        production, down = answering(services.production)
        warm = ready_everywhere(production, model, version)
        started = time.perf_counter()
        try:
            rollout = production.load_versions(model, [version])
        except FleetLoadError as exc:
            if not (missed := unreachable_only(exc)):
                raise
            down, rollout = down + missed, None
        elapsed_ms = rollout.swap_ms if rollout else (time.perf_counter() - started) * 1000.0
        step.detail = f"{model} v{version} serving again ({'warm' if warm else 'cold'} restore, {elapsed_ms:.1f} ms)"
        if rollout:
            step.detail += f"; {rollout.summary()}"
        if down:
            step.detail += f"; {', '.join(sorted(set(down)))} did not answer: {_converges(services, version)}"
        get_run_logger().warning(step.detail)
        return elapsed_ms


def _converges(services: Services, version: int) -> str:
    if services.repository is None:
        return "not restored, not checked"
    return f"not checked; the repository says [{version}], which a replica loads when it starts"


@task(name="verify-restored", **STEP)
def verify_restored(run: Recorder, services: Services, golden_set: str, model: str, version: int) -> Verdict:
    """The restored version is the only one READY, answers smoke requests and the golden set."""
    with run.step(Phase.ROLLBACK, VERIFY_RESTORED) as step:
        production, reloaded, down = back_in_line(
            services.production, model, services.environment.bake.replica_return_s
        )
        ready = production.ready_versions(model)
        golden = bound_golden(production, golden_set)  # restoring is never blocked by an edited golden set
        failures, problem = probe(production, golden, services.environment.bake.smoke_requests, version)
        if ready != [version]:
            verdict = Verdict(outcome=Outcome.FAIL, reason=f"READY versions {ready}, expected [{version}]")
        elif failures:
            verdict = Verdict(outcome=Outcome.FAIL, reason=f"{failures} smoke requests failed: {problem}")
        else:
            verdict = assess_golden(golden, observe_golden(production, golden))
        step.detail = str(verdict) + "".join(f"; {line}" for line in reloaded)
        step.detail += (
            f"; not checked, did not answer within {services.environment.bake.replica_return_s:.0f} s: {', '.join(down)}"
            if down
            else ""
        )
        if not verdict.passed:
            step.fail(str(verdict))
        get_run_logger().info("restored %s v%s: %s", model, version, verdict)
        return verdict
