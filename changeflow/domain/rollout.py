"""Kubernetes rollout logic as kubectl has it, on plain dicts (what the API returns), no client.

``rollout_status`` mirrors ``kubectl rollout status`` (observedGeneration, updated / available replicas,
the Progressing condition's ProgressDeadlineExceeded); ``undo_template`` mirrors ``kubectl rollout undo``
(the ReplicaSet with the highest revision below the current one, its template without pod-template-hash).
"""

from __future__ import annotations

import copy

from pydantic import BaseModel

from changeflow.exceptions import ClusterError

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"


class RolloutStatus(BaseModel, frozen=True):
    done: bool
    failed: bool
    message: str


def rollout_status(deployment: dict, changed_at_generation: int = 0) -> RolloutStatus:
    """``changed_at_generation``: the generation before our patch; until the controller has observed a
    later one, the status still describes the old template (as if the API had not bumped it yet)."""
    meta, spec, status = deployment.get("metadata", {}), deployment.get("spec", {}), deployment.get("status") or {}
    name = meta.get("name", "?")
    generation, observed = meta.get("generation") or 0, status.get("observedGeneration") or 0
    if generation > observed or observed <= changed_at_generation:
        return RolloutStatus(
            done=False, failed=False, message=f"waiting for deployment {name} spec update to be observed"
        )
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return RolloutStatus(done=False, failed=True, message=f"deployment {name} exceeded its progress deadline")
    wanted = spec.get("replicas", 1)
    updated, replicas, available = (status.get(k) or 0 for k in ("updatedReplicas", "replicas", "availableReplicas"))
    if updated < wanted:
        return RolloutStatus(done=False, failed=False, message=f"{updated} of {wanted} updated replicas")
    if replicas > updated:
        return RolloutStatus(
            done=False, failed=False, message=f"{replicas - updated} old replicas are pending termination"
        )
    if available < updated:
        return RolloutStatus(
            done=False, failed=False, message=f"{available} of {updated} updated replicas are available"
        )
    return RolloutStatus(done=True, failed=False, message=f"deployment {name} successfully rolled out")


def revision_of(obj: dict) -> int:
    try:
        return int((obj.get("metadata", {}).get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def owned_by(replica_set: dict, deployment: dict) -> bool:
    owners = replica_set.get("metadata", {}).get("ownerReferences") or []
    uid = deployment.get("metadata", {}).get("uid")
    return not owners or any(
        o.get("uid") == uid or (o.get("kind") == "Deployment" and o.get("name") == deployment["metadata"]["name"])
        for o in owners
    )


def undo_template(deployment: dict, replica_sets: list[dict]) -> tuple[int, dict] | None:
    """(revision, pod template) to roll back to: the newest ReplicaSet older than the current revision."""
    current = revision_of(deployment)
    older = [rs for rs in replica_sets if owned_by(rs, deployment) and 0 < revision_of(rs) < current]
    if not older:
        return None
    previous = max(older, key=revision_of)
    template = copy.deepcopy(previous["spec"]["template"])
    (template.get("metadata", {}).get("labels") or {}).pop(HASH_LABEL, None)
    return revision_of(previous), template


def with_image(template: dict, container: str, image: str, args: list[str] | None = None) -> dict:
    """A copy of a pod template with one container's image (and args) replaced; the container must exist."""
    changed = copy.deepcopy(template)
    for spec in changed.get("spec", {}).get("containers", []):
        if spec.get("name") == container:
            spec["image"] = image
            if args is not None:
                spec["args"] = list(args)
            return changed
    names = [c.get("name") for c in template.get("spec", {}).get("containers", [])]
    raise ClusterError(
        f"no container '{container}' in the pod template (containers: {', '.join(map(str, names))}); fix: set change.container"
    )


def image_of(template: dict, container: str) -> str | None:
    return next(
        (c.get("image") for c in template.get("spec", {}).get("containers", []) if c.get("name") == container), None
    )
