"""Requester and executor hold different powers: a run of a change flow created through a deployment
(the Prefect UI, the API, ``changeflow submit``) carries the change request and nothing else. Who may
approve, the keys, the environment and the clock are the executor's own configuration; a run that tries
to bring its own is refused before anything is assessed, and the refusal is the record's outcome.
"""

from __future__ import annotations

from collections.abc import Mapping

EXECUTOR_OWNED = ("environment", "governance", "now")


def run_refusal(trusted_caller: bool, given: Mapping[str, bool], job_variables: Mapping[str, object]) -> str | None:
    """Why this run may not proceed, or None. ``given``: which executor-owned parameters the run carries;
    ``job_variables``: the run's own overrides of the worker's job (env, command, working dir).
    ``trusted_caller``: the executor's own code called the flow in-process (a housekeeping flow); the
    governed change flows trust no caller, since a handed-in governance could copy a bundle's seal and
    bring its own keys."""
    if trusted_caller:
        return None
    sent = [name for name in EXECUTOR_OWNED if given.get(name)]
    problems = []
    if sent:
        problems.append(f"run parameter(s) {', '.join(sent)} are the executor's configuration, not the requester's")
    if job_variables:
        problems.append(
            f"job variable(s) {', '.join(sorted(map(str, job_variables)))} would change the executor's process"
        )
    if not problems:
        return None
    return "refused: " + "; ".join(problems) + "; send the change request only (nothing was assessed or touched)"
