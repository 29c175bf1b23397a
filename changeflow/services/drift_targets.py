"""How each kind of drift target is observed and put back: a Triton model, a Kubernetes Deployment, a
Service. One small class per kind behind one factory (``watcher_for``), Flagger's router shape.

A Triton model is its READY versions and the digest of its served config without ``version_policy`` (the
versions are their own fact); the exact ``config.pbtxt`` and the served config are kept for a revert. A
Deployment is each container's image and args; a Service its selector.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from changeflow.domain.drift import Snapshot, Target
from changeflow.domain.model_config import differences, parse_config, policy_versions, render_config, sample_inputs
from changeflow.domain.rollout import rollout_status
from changeflow.domain.verdicts import Outcome, Verdict
from changeflow.exceptions import ChangeflowError, InvalidSettings, UnknownKind
from changeflow.kinds import LiveSystem
from changeflow.ports import Convergent, ModelLocks, RecordStore
from changeflow.settings.environment import Environment


class LiveServices(LiveSystem, Protocol):
    """What the drift check, its watchers and the production watch use of ``bootstrap.Services``: the live
    system a kind reads, the record store, the model locks and the environment's settings. Typed with this,
    the services never import the composition root."""

    environment: Environment
    records: RecordStore
    locks: ModelLocks


class Watcher(Protocol):
    def observe(self, services: LiveServices, target: Target, at: datetime) -> Snapshot: ...

    def converge(self, services: LiveServices, approved: Snapshot, history: Collection[Snapshot]) -> list[str]:
        """Bring replicas that fell behind the desired state back to it (a restart, a missed load); returns
        what was done. Not drift: nobody changed what was approved."""

    def explain(self, approved: Snapshot, seen: Snapshot) -> list[str]:
        """What the differing facts mean in detail (e.g. which config fields), for the record."""

    def restore(self, services: LiveServices, approved: Snapshot) -> str:
        """Put the approved state back; returns what was done."""

    def verify(self, services: LiveServices, approved: Snapshot) -> Verdict:
        """After ``restore`` and a fact-by-fact comparison: does it serve (smoke inference, rollout done)?"""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class TritonModelWatcher:
    def observe(self, services: LiveServices, target: Target, at: datetime) -> Snapshot:
        server = services.production
        if target.where != server.name:
            raise InvalidSettings(
                "environment",
                "production.name",
                f"the drift target {target} is on {target.where!r}, production is {server.name!r}",
                "keep the production server's name stable, or adopt a new baseline",
            )
        versions = _served(server, target.name)
        keep: dict[str, str] = {}
        digest = ""
        if versions:
            served = server.model_config(target.name)
            served.ClearField("version_policy")
            keep["config"] = render_config(served)
            digest = _digest(keep["config"])
        try:
            keep["config_file"] = services.config_store().read_config_text(target.name)
        except ChangeflowError:  # no repository configured, or no file: the served config is still compared
            pass
        return Snapshot(
            target=target,
            facts={"ready_versions": json.dumps(versions), "config_sha256": digest},
            seen_at=at,
            keep=keep,
        )

    def converge(self, services: LiveServices, approved: Snapshot, history: Collection[Snapshot]) -> list[str]:
        """Replicas behind the repository brought back to it, when the repository holds what was approved
        (its file as the approved snapshot kept it) and what they serve was approved once: what a restart or
        a missed load leaves. Anything else stays for the drift check to record."""
        server, name = services.production, approved.target.name
        if not isinstance(server, Convergent) or "config_file" not in approved.keep:
            return []
        try:
            if services.config_store().read_config_text(name) != approved.keep["config_file"]:
                return []  # a repository edited by hand: drift, not a straggler
            on_file = policy_versions(parse_config(approved.keep["config_file"], f"{name}/config.pbtxt"))
        except ChangeflowError:
            return []
        if on_file != json.loads(approved.facts["ready_versions"]):
            return []  # approved while the servers' memory differed from the file: nothing to converge to
        once = {tuple(json.loads(s.facts["ready_versions"])) for s in history if s.target == approved.target}
        return server.converge(name, {v for v in once if all(isinstance(x, int) for x in v)})

    def explain(self, approved: Snapshot, seen: Snapshot) -> list[str]:
        before, after = approved.keep.get("config"), seen.keep.get("config")
        if not before or not after or before == after:
            return []
        old, new = parse_config(before, "approved config"), parse_config(after, "served config")
        changed = [f"config {line}" for line in differences(new, old)]  # "field: approved != seen"
        changed += [
            f"config {line.split(':')[0]}: unset now"
            for line in differences(old, new)
            if line.split(":")[0] not in {c[7:].split(":")[0] for c in changed}
        ]
        return changed

    def restore(self, services: LiveServices, approved: Snapshot) -> str:
        server, name = services.production, approved.target.name
        done = []
        file_text = approved.keep.get("config_file")
        if file_text is not None:
            store = services.config_store()
            if store.read_config_text(name) != file_text:
                store.write_config_text(name, file_text)
                done.append(f"{name}/config.pbtxt written back")
        versions = json.loads(approved.facts["ready_versions"])
        if not versions:
            server.unload(name)
            return "; ".join([*done, f"{name} unloaded"])
        server.load_versions(name, versions, base_config=parse_config(approved.keep["config"], "approved config"))
        return "; ".join([*done, f"{name} serving {versions} with the approved config"])

    def verify(self, services: LiveServices, approved: Snapshot) -> Verdict:
        """A smoke inference on each approved version, with inputs made from the model's own config."""
        versions = json.loads(approved.facts["ready_versions"])
        if not versions:
            return Verdict(outcome=Outcome.PASS, reason="no version serves, as approved")
        server, name = services.production, approved.target.name
        config = server.model_config(name)
        answered = []
        for version in versions:
            try:
                answered.append(server.infer(name, sample_inputs(config), version=version).model_version)
            except ChangeflowError as exc:
                return Verdict(outcome=Outcome.FAIL, reason=f"smoke inference on {name} v{version} failed: {exc}")
        return Verdict(
            outcome=Outcome.PASS, reason=f"smoke inference answered by {name} v{', v'.join(map(str, answered))}"
        )


def _served(server, model: str) -> list[int] | dict[str, list[int] | str]:
    """The READY versions, or, where the replicas of a fleet disagree, each replica's (a fact that differs
    from any approved list, naming them)."""
    if not isinstance(server, Convergent):
        return server.ready_versions(model)
    seen = server.replica_versions(model)
    answers = {name: v if isinstance(v, list) else f"not asked: {v}" for name, v in seen.items()}
    if all(isinstance(v, list) for v in answers.values()) and len({json.dumps(v) for v in answers.values()}) == 1:
        return next(iter(answers.values()))
    return answers


def _containers(deployment: dict) -> list[dict]:
    return deployment["spec"]["template"]["spec"].get("containers") or []


class DeploymentWatcher:
    ROLLOUT_S = 600.0  # how long a reverted Deployment may take to roll out (a Triton image pull and start)

    def __init__(self) -> None:
        self._generation = 0  # before the revert's patch: the rollout status must describe a later one

    def observe(self, services: LiveServices, target: Target, at: datetime) -> Snapshot:
        deployment = services.cluster().read_deployment(target.where, target.name)
        facts = {}
        for container in _containers(deployment):
            facts[f"{container['name']}.image"] = container.get("image") or ""
            facts[f"{container['name']}.args"] = json.dumps(container.get("args") or [])
        return Snapshot(target=target, facts=facts, seen_at=at)

    def converge(self, services: LiveServices, approved: Snapshot, history: Collection[Snapshot]) -> list[str]:
        return []  # the cluster's controllers converge its replicas

    def explain(self, approved: Snapshot, seen: Snapshot) -> list[str]:
        return []

    def restore(self, services: LiveServices, approved: Snapshot) -> str:
        api, target = services.cluster(), approved.target
        self._generation = api.read_deployment(target.where, target.name)["metadata"].get("generation") or 0
        containers = [
            {
                "name": fact.removesuffix(".image"),
                "image": image,
                "args": json.loads(approved.facts.get(fact.removesuffix(".image") + ".args", "[]")) or None,
            }
            for fact, image in approved.facts.items()
            if fact.endswith(".image")
        ]
        api.patch_deployment(target.where, target.name, {"spec": {"template": {"spec": {"containers": containers}}}})
        return f"deployment/{target.name}: " + ", ".join(f"{c['name']} image {c['image']}" for c in containers)

    def verify(self, services: LiveServices, approved: Snapshot) -> Verdict:
        """Waits for the rollout like ``kubectl rollout status``."""
        api, target = services.cluster(), approved.target
        deadline = time.monotonic() + self.ROLLOUT_S
        while True:
            status = rollout_status(api.read_deployment(target.where, target.name), self._generation)
            if status.done or status.failed or time.monotonic() > deadline:
                return Verdict(outcome=Outcome.PASS if status.done else Outcome.FAIL, reason=status.message)
            time.sleep(services.environment.cluster.poll_s)


class ServiceWatcher:
    def observe(self, services: LiveServices, target: Target, at: datetime) -> Snapshot:
        selector = services.cluster().read_service(target.where, target.name)["spec"].get("selector") or {}
        return Snapshot(target=target, facts={"selector": json.dumps(selector, sort_keys=True)}, seen_at=at)

    def converge(self, services: LiveServices, approved: Snapshot, history: Collection[Snapshot]) -> list[str]:
        return []  # the cluster's controllers converge its replicas

    def explain(self, approved: Snapshot, seen: Snapshot) -> list[str]:
        return []

    def restore(self, services: LiveServices, approved: Snapshot) -> str:
        target = approved.target
        want = json.loads(approved.facts["selector"])
        now = services.cluster().read_service(target.where, target.name)["spec"].get("selector") or {}
        patch = {**{key: None for key in now if key not in want}, **want}  # a key added by hand is removed
        services.cluster().patch_service(target.where, target.name, {"spec": {"selector": patch}})
        return f"service/{target.name} selector {want}"

    def verify(self, services: LiveServices, approved: Snapshot) -> Verdict:
        return Verdict(outcome=Outcome.PASS, reason="selector as approved")


WATCHERS: dict[str, type] = {
    "triton_model": TritonModelWatcher,
    "deployment": DeploymentWatcher,
    "service": ServiceWatcher,
}


def watcher_for(target: Target):
    """The watcher of a target's kind; an unknown kind raises, naming the known ones."""
    try:
        return WATCHERS[target.kind]()
    except KeyError:
        raise UnknownKind(f"no drift watcher for {target.kind!r}; known: {', '.join(WATCHERS)}") from None
