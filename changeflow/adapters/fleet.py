"""Production as a fleet: the replicas a load balancer spreads clients over, and the model repository
they load from, which is the desired state.

``Fleet`` is a ``ModelServer``, so every step that asks "production" asks the fleet. Reads ask every
replica and agree or refuse (a fleet whose replicas disagree is not a state to change from); a load that
adds versions first writes the version policy into the repository (every folder, when the replicas do not
share one), then asks every replica at once to load the model as the repository now says; one that only
drops versions (a warm rollback, a finalize) swaps the replicas first and writes right after. A restarted
or added replica loads the same from the files: no change lives only in a process's memory. A replica that fails stops the
load with a ``FleetLoadError`` saying which replica did what; the change's compensation restores the rest.

One server is a fleet of one. Pure orchestration over ports: unit-tested with fakes.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np

from changeflow.adapters.replicas import FleetLoadError, ReplicaOutcome, Rollout, lane, outcome_line, summed
from changeflow.domain.model_config import ModelConfig, parse_config, policy_versions, render_config, with_versions
from changeflow.domain.serving import MetricsSnapshot, VersionState
from changeflow.exceptions import ChangeflowError, ModelNotReady, ServerUnavailable
from changeflow.ports import DesiredState, InferenceResult, ModelServer


class Fleet:
    """``replicas`` (each a ``ModelServer``, or a roster called for the current ones: replicas discovered
    while a change runs), the ``repositories`` they load from (None: a fleet whose desired state is not kept,
    e.g. a staging server) and ``http_url``, the address clients use. The fleet's own requests (probes,
    smoke tests) go to each replica in turn and, when ``through`` is given (the load balancer), through it
    too: what clients meet is checked as well as each replica."""

    def __init__(
        self,
        name: str,
        replicas: Sequence[ModelServer] | Callable[[], Sequence[ModelServer]],
        repositories: DesiredState | None = None,
        http_url: str = "",
        through: ModelServer | None = None,
    ) -> None:
        if not callable(replicas) and not replicas:
            raise ValueError(f"{name}: a fleet needs at least one replica")
        self.name = name
        self._roster = replicas if callable(replicas) else (lambda fixed=list(replicas): fixed)
        self.repositories = repositories
        self.http_url = http_url
        self.through = through
        self._known: dict[str, tuple[str, ModelConfig]] = {}  # model -> (config text, its parse)
        self._turn = itertools.count()
        self._lock = threading.Lock()

    @property
    def replicas(self) -> list[ModelServer]:
        """The replicas now (a discovered fleet reads them again as its pods change)."""
        return list(self._roster())

    def __repr__(self) -> str:
        return f"Fleet({self.name!r})"

    def _narrowed(self, replicas: Sequence[ModelServer]) -> Fleet:
        """This fleet over ``replicas`` only; its requests no longer pass the load balancer (which would reach
        the others)."""
        return Fleet(self.name, replicas, self.repositories, self.http_url)

    def _each(self, fn: Callable[[ModelServer], object]) -> list[tuple[ModelServer, object | BaseException]]:
        """``fn`` on every replica at once; each result, or the error it raised."""

        def attempt(replica: ModelServer):
            try:
                return fn(replica)
            except ChangeflowError as exc:
                return exc

        replicas = self.replicas
        if len(replicas) == 1:
            return [(replicas[0], attempt(replicas[0]))]
        futures = [lane(replica).submit(attempt, replica) for replica in replicas]
        return [(replica, future.result()) for replica, future in zip(replicas, futures)]

    def _agreed(self, what: str, fn: Callable[[ModelServer], object]):
        """The answer every replica gives; an unreachable replica or a disagreement is an error naming them."""
        answers = self._each(fn)
        for replica, answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        distinct = {repr(answer) for _, answer in answers}
        if len(distinct) > 1:
            seen = "; ".join(f"{r.name}: {a}" for r, a in answers)
            raise ModelNotReady(f"{self.name}: replicas disagree on {what} ({seen})")
        return answers[0][1]

    def first(self, count: int) -> Fleet:
        """The first ``count`` replicas, as a fleet over the same repository: the wave a promotion reached."""
        replicas = self.replicas
        return self if count >= len(replicas) else self._narrowed(replicas[:count])

    # --- reads -------------------------------------------------------------------------------

    def ready(self) -> bool:
        return all(answer is True for _, answer in self._each(lambda r: r.ready()))

    def server_version(self) -> str:
        return str(self._agreed("the server version", lambda r: r.server_version()))

    def explicit_model_control(self) -> tuple[bool, str]:
        answers = self._each(lambda r: r.explicit_model_control())
        details = [a if isinstance(a, tuple) else (False, f"{r.name}: {a}") for r, a in answers]
        return all(ok for ok, _ in details), "; ".join(detail for _, detail in details)

    def repository_index(self) -> list[VersionState]:
        """Every replica's rows, each once (the drift check reads which models exist; replicas that disagree
        on a model are compared one by one there). Fails only when no replica answers."""
        answers = self._each(lambda r: r.repository_index())
        rows = [row for _, a in answers if not isinstance(a, BaseException) for row in a]
        if not rows and all(isinstance(a, BaseException) for _, a in answers):
            raise answers[0][1]
        return list({repr(row): row for row in rows}.values())

    def ready_versions(self, model: str) -> list[int]:
        return self._agreed(f"{model}'s READY versions", lambda r: r.ready_versions(model))

    def replica_versions(self, model: str) -> dict[str, list[int] | ChangeflowError]:
        """Each replica's READY versions of ``model``, or the error asking it: for a record that names them."""
        return {replica.name: answer for replica, answer in self._each(lambda r: r.ready_versions(model))}

    def model_config(self, model: str) -> ModelConfig:
        return self.replicas[0].model_config(model)

    def desired_versions(self, model: str) -> list[int] | None:
        """What the repository says ``model`` serves (None: no policy naming versions, or no repository)."""
        if self.repositories is None:
            return None
        return policy_versions(self.repositories.read_config(model))

    # --- the desired state, then every replica -------------------------------------------------

    def load(self, model: str, config: ModelConfig | None = None) -> None:
        self._converge(model, lambda r: r.load(model, config), "loaded")

    def load_versions(self, model: str, versions: Sequence[int], base_config: ModelConfig | None = None) -> Rollout:
        """Write ``versions`` into the repository's config of ``model`` (when the fleet keeps its desired
        state), then load every replica with that config. ``base_config`` is for a fleet without a
        repository whose model is not loaded yet (a staging server).

        A load that only drops versions the file names (a rollback to the warm old version, a finalize) swaps
        the replicas first and writes the file right after: the swap takes about a millisecond, and a rollback
        is timed by it. A crash in between leaves the record short of its end, and the safety net restores from
        the record, writing the file again; the step that verifies a rollback asks each replica."""
        previous_text, write_after, written = None, None, False
        wanted = sorted(set(versions))
        if self.repositories is not None:
            previous_text = self.repositories.read_config_text(model)
            on_file = self._parsed(model, previous_text)
            config = with_versions(on_file, versions)
            if written := policy_versions(on_file) != wanted:  # else the file stays byte for byte
                write_after = self._writer(model, config)
                if not set(wanted) <= set(policy_versions(on_file) or []):  # new versions: the file says so first
                    write_after()
                    write_after = None
        else:
            config = with_versions(base_config if base_config is not None else self.model_config(model), versions)

        loaded_at: list[float] = []

        def load(replica: ModelServer) -> str:
            asked = time.perf_counter()
            replica.load(model, config)  # Triton answers once the versions are loaded (or refused)
            loaded_at.append(time.perf_counter())
            if missing := set(wanted) - set(replica.ready_versions(model)):  # e.g. a version folder it lacks
                raise ModelNotReady(f"{replica.name}: {model} versions {sorted(missing)} not READY after load")
            return f"{wanted} READY in {(loaded_at[-1] - asked) * 1000:.1f} ms"

        started = time.perf_counter()
        try:
            outcomes = self._converge(model, load, None)
        finally:
            if write_after is not None:
                write_after()  # what the replicas were asked to serve, whatever each did: the compensation restores
        return Rollout(
            model=model,
            versions=tuple(wanted),
            previous_text=previous_text,
            written=written,
            outcomes=tuple(outcomes),
            swap_ms=(max(loaded_at) - started) * 1000.0,  # every replica's load answered; READY checked after
        )

    def _writer(self, model: str, config: ModelConfig) -> Callable[[], None]:
        def write() -> None:
            text = render_config(config)
            self.repositories.write_config_text(model, text)
            self._known[model] = (text, config)

        return write

    def _parsed(self, model: str, text: str) -> ModelConfig:
        """The config a text says; the one this fleet wrote last is not parsed again (a rollback is timed in
        milliseconds, and parsing protobuf text costs a third of one)."""
        known = self._known.get(model)
        if known is not None and known[0] == text:
            return known[1]
        config = parse_config(text, f"{model}/config.pbtxt")
        self._known[model] = (text, config)
        return config

    def _converge(self, model: str, fn: Callable[[ModelServer], object], done: str | None) -> list[ReplicaOutcome]:
        answers = self._each(fn)
        outcomes = [
            ReplicaOutcome(
                r.name, False, str(a).removeprefix(f"{r.name}: "), unreachable=isinstance(a, ServerUnavailable)
            )
            if isinstance(a, BaseException)
            else ReplicaOutcome(r.name, True, done or str(a))
            for r, a in answers
        ]
        if not all(o.ok for o in outcomes):
            failed = [o.replica for o in outcomes if not o.ok]
            if len(answers) == 1:  # one server fails as it always did (its own error, e.g. ServerUnavailable)
                raise answers[0][1]
            if not any(o.ok for o in outcomes) and all(o.unreachable for o in outcomes):
                raise ServerUnavailable(f"{self.name}: no replica answers ({outcome_line(outcomes)})")
            raise FleetLoadError(
                f"{self.name}: {model} not loaded on {', '.join(failed)} ({outcome_line(outcomes)})", outcomes
            )
        return outcomes

    def unload(self, model: str) -> None:
        self._converge(model, lambda r: r.unload(model), "unloaded")

    def converge(self, model: str, only_from: Collection[tuple[int, ...]] | None) -> list[str]:
        """Reload the replicas that serve other versions than the repository says, where what they serve is
        one of ``only_from`` (a state the fleet had under an approval: a replica that missed a load, or was
        restarted from an older file; None: whatever they serve, as a rollback's verification does). A replica
        serving anything else is left as found, for the drift check to record. Returns a line per replica."""
        desired = self.desired_versions(model)
        if not desired:
            return []
        config = self.repositories.read_config(model)
        done = []
        for replica, seen in self._each(lambda r: r.ready_versions(model)):
            if (
                isinstance(seen, BaseException)
                or seen == desired
                or (only_from is not None and tuple(seen) not in only_from)
            ):
                continue
            replica.load_versions(model, desired, base_config=config)
            done.append(f"{replica.name} served {seen}, the repository says {desired}: reloaded")
        return done

    # --- requests and metrics ------------------------------------------------------------------

    def next_replica(self) -> ModelServer:
        """The next server a request of the fleet's own goes to: each replica in turn, then the load balancer."""
        targets = [*self.replicas, *([self.through] if self.through is not None else [])]
        with self._lock:
            return targets[next(self._turn) % len(targets)]

    def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        version: int | None = None,
        datatypes: Mapping[str, str] | None = None,
    ) -> InferenceResult:
        """One request to the next replica in turn: a check of the fleet asks each replica directly, so a
        replica of its own fault is found and named (its errors carry its name)."""
        return self.next_replica().infer(model, inputs, version=version, datatypes=datatypes)

    def scrape(self) -> MetricsSnapshot:
        """Every replica's counters, summed per (model, version): the fleet's traffic as one server's."""
        snapshots = [s for _, s in self._each(lambda r: r.scrape())]
        for snapshot in snapshots:
            if isinstance(snapshot, BaseException):
                raise snapshot
        return MetricsSnapshot(taken_at=max(s.taken_at for s in snapshots), counters=summed(snapshots))


def answering(server: ModelServer) -> tuple[ModelServer, list[str]]:
    """The replicas of ``server`` that answer (as a fleet) and the names of those that do not. A replica that
    does not answer is not checked; where the repository keeps the desired state, it loads that when it
    starts."""
    if not isinstance(server, Fleet):
        return server, []
    answers = server._each(lambda r: r.server_version())  # alive, not "ready": a server loading a model is not ready
    live = [r for r, a in answers if not isinstance(a, BaseException)]
    down = [r.name for r, a in answers if isinstance(a, BaseException)]
    if not live:
        return server, down
    if not down:
        return server, down
    return Fleet(server.name, live, server.repositories, server.http_url, server.through), down


def unreachable_only(error: FleetLoadError) -> list[str]:
    """The replicas a load could not reach, when that is all that failed and at least one replica loaded;
    else an empty list (the failure stands)."""
    if all(o.ok or o.unreachable for o in error.outcomes) and any(o.ok for o in error.outcomes):
        return [o.replica for o in error.outcomes if o.unreachable]
    return []


def back_in_line(
    server: ModelServer, model: str, wait_s: float, poll_s: float = 0.5
) -> tuple[ModelServer, list[str], list[str]]:
    """For a rollback's verification: wait up to ``wait_s`` for replicas that do not answer (a restarted one
    is back in seconds; when none answers, the verification fails at once), then reload any replica serving
    other versions than the repository says (one that started while the rollback wrote the file). Returns the replicas that answer, what was reloaded, and the
    names of those still away."""
    live, down = answering(server)
    deadline = time.monotonic() + wait_s
    while down and live is not server and time.monotonic() < deadline:  # none answers: nothing to wait beside
        time.sleep(poll_s)
        live, down = answering(server)
    reloaded = live.converge(model, None) if isinstance(live, Fleet) and live.repositories is not None else []
    return live, reloaded, down


def ready_everywhere(server: ModelServer, model: str, version: int) -> bool:
    """Whether ``version`` of ``model`` is READY on every replica (replicas may disagree on the rest, as
    they do after a promote that failed on one of them)."""
    if not isinstance(server, Fleet):
        return version in server.ready_versions(model)
    seen = server.replica_versions(model).values()
    return all(isinstance(versions, list) and version in versions for versions in seen)
