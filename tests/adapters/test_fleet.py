"""The fleet over fake replicas: the repository is written before any replica loads, every replica is
asked, a failing one is named, reads agree or refuse, requests and counters cover every replica."""

from __future__ import annotations

import numpy as np
import pytest

from changeflow.adapters.config_store import Repositories
from changeflow.adapters.fleet import Fleet, FleetLoadError, answering, unreachable_only
from changeflow.domain.model_config import parse_config, policy_versions
from changeflow.exceptions import ModelLoadError, ModelNotReady, ServerUnavailable
from tests.conftest import EXAMPLES
from tests.fakes import FakeModelServer, FakeRepository

TEXT = (EXAMPLES / "model_repository" / "classifier" / "config.pbtxt").read_text()


def answer(model, version, inputs):
    return {"OUT": np.full((1,), version)}


class Watching(FakeModelServer):
    """A replica that notes what the repository said when it was asked to load, and can refuse a load."""

    def __init__(self, name: str, repository: FakeRepository, refuse: bool = False) -> None:
        super().__init__(answer, ready={"m": [1]}, name=name)
        self.repository, self.refuse, self.saw = repository, refuse, []

    def load_versions(self, model, versions, base_config=None):
        self.saw.append(policy_versions(self.repository.read_config(model)))
        if self.refuse:
            raise ModelLoadError(f"{self.name}: load m failed: version 2 is not in its repository")
        self.configs[model] = base_config
        super().load_versions(model, versions, base_config)


def fleet(*refusing: str, names=("a", "b", "c")) -> tuple[Fleet, FakeRepository, list[Watching]]:
    repository = FakeRepository({"m": TEXT})
    replicas = [Watching(n, repository, refuse=n in refusing) for n in names]
    return Fleet("production", replicas, repository), repository, replicas


def test_the_repository_is_written_before_any_replica_loads_and_every_replica_loads_it():
    production, repository, replicas = fleet()
    rollout = production.load_versions("m", [2, 1])
    assert policy_versions(repository.read_config("m")) == [1, 2]
    assert [r.saw for r in replicas] == [[[1, 2]]] * 3  # each saw the new desired state when asked
    assert all(policy_versions(r.configs["m"]) == [1, 2] for r in replicas)  # loaded as the file says
    assert rollout.previous_text == TEXT and [o.replica for o in rollout.outcomes] == ["a", "b", "c"]
    assert production.ready_versions("m") == [1, 2] and production.desired_versions("m") == [1, 2]


def test_a_replica_that_refuses_is_named_and_the_others_are_reported():
    production, _, _ = fleet("b")
    with pytest.raises(FleetLoadError, match="not loaded on b") as failed:
        production.load_versions("m", [1, 2])
    assert [(o.replica, o.ok) for o in failed.value.outcomes] == [("a", True), ("b", False), ("c", True)]
    assert "version 2 is not in its repository" in str(failed.value)
    assert unreachable_only(failed.value) == []  # a refusal is a failure, not a replica that is away


def test_replicas_that_disagree_are_not_a_state_to_change_from():
    production, _, replicas = fleet()
    replicas[2].ready_map["m"] = [1, 2]
    with pytest.raises(
        ModelNotReady, match=r"replicas disagree on m's READY versions \(a: \[1\]; b: \[1\]; c: \[1, 2\]\)"
    ):
        production.ready_versions("m")


def test_a_replica_that_does_not_answer_is_left_out_of_a_restore_and_named():
    production, repository, replicas = fleet()
    replicas[1].down = True
    with pytest.raises(ServerUnavailable, match="b: does not answer"):
        production.ready_versions("m")
    with pytest.raises(FleetLoadError) as failed:
        production.load_versions("m", [1])
    assert unreachable_only(failed.value) == ["b"]
    live, down = answering(production)
    assert down == ["b"] and [r.name for r in live.replicas] == ["a", "c"]
    assert live.load_versions("m", [1]).versions == (1,) and live.ready_versions("m") == [1]
    assert policy_versions(repository.read_config("m")) == [1]  # what b loads when it starts again


def test_requests_go_to_each_replica_in_turn_and_counters_are_summed():
    production, _, replicas = fleet()
    served = [production.infer("m", {"IN": np.zeros(1)}, version=1) for _ in range(6)]
    assert all(r.model_version == 1 for r in served)
    assert [replica.counters[("m", 1)].success for replica in replicas] == [2, 2, 2]
    assert production.scrape().for_version("m", 1).success == 6


def test_every_repository_folder_is_written_and_a_read_only_one_is_reported():
    shared, own = FakeRepository({"m": TEXT}), FakeRepository({"m": TEXT}, read_only=True)
    folders = Repositories([shared, FakeRepository({"m": TEXT})])
    folders.write_config_text("m", "name: 'm'")
    assert [s.texts["m"] for s in folders.stores] == ["name: 'm'"] * 2
    ok, why = Repositories([shared, own]).writable("m")
    assert not ok and "read-only" in why and "fix:" in why


def test_one_server_is_a_fleet_of_one_without_a_repository_when_none_is_kept():
    server = FakeModelServer(answer, ready={"m": [1]}, name="staging")
    staging = Fleet("staging", [server])
    staging.load_versions("m", [3], base_config=parse_config(TEXT))
    assert server.ready_versions("m") == [3] and staging.desired_versions("m") is None


def test_a_rollback_waits_for_a_replica_coming_back_and_brings_it_to_the_repository():
    from changeflow.adapters.fleet import back_in_line

    production, repository, replicas = fleet()
    production.load_versions("m", [1])  # the rollback wrote [1] and restored the replicas that answered
    replicas[1].down = True
    sleeps = []

    def comes_back(seconds: float) -> None:  # it restarted from the file it read before the rollback wrote it
        sleeps.append(seconds)
        replicas[1].down, replicas[1].ready_map["m"] = False, [1, 2]

    import changeflow.adapters.fleet as module

    original, module.time.sleep = module.time.sleep, comes_back
    try:
        live, reloaded, down = back_in_line(production, "m", wait_s=5)
    finally:
        module.time.sleep = original
    assert sleeps and down == [] and [r.name for r in live.replicas] == ["a", "b", "c"]
    assert reloaded == ["b served [1, 2], the repository says [1]: reloaded"] and replicas[1].ready_versions("m") == [1]


def test_when_no_replica_answers_a_rollback_does_not_wait():
    from changeflow.adapters.fleet import back_in_line

    production, _, replicas = fleet()
    for replica in replicas:
        replica.down = True
    started = __import__("time").monotonic()
    live, reloaded, down = back_in_line(production, "m", wait_s=30)
    assert down == ["a", "b", "c"] and reloaded == [] and __import__("time").monotonic() - started < 1


def test_a_load_the_file_already_says_is_not_claimed_as_written():
    production, repository, _ = fleet()
    again = production.load_versions("m", [1])  # the file says specific [1] already
    assert repository.writes == [] and not again.written
    assert "as the repository already said, loaded on every replica" in again.summary()
    assert production.load_versions("m", [1, 2]).written and len(repository.writes) == 1


def test_behind_a_load_balancer_probes_pass_it_too_but_not_while_a_wave_has_reached_only_some():
    production, repository, replicas = fleet()
    balancer = FakeModelServer(answer, ready={"m": [1]}, name="production load balancer")
    production = Fleet("production", replicas, repository, "http://lb", through=balancer)
    answered = [production.infer("m", {"IN": np.zeros(1)}).server for _ in range(8)]
    assert answered == ["a", "b", "c", "production load balancer"] * 2  # what clients meet is checked too
    canary = production.first(1)  # the balancer would send a candidate's probe to replicas that lack it
    assert {canary.infer("m", {"IN": np.zeros(1)}).server for _ in range(4)} == {"a"}
    assert production.first(3) is production


def test_a_fleet_over_a_roster_asks_the_replicas_there_now():
    _, repository, replicas = fleet(names=("a", "b", "c", "d"))
    now = replicas[:2]
    production = Fleet("production", lambda: now, repository)
    production.load_versions("m", [1, 2])
    assert [len(r.saw) for r in replicas] == [1, 1, 0, 0]
    now = [replicas[1], replicas[2]]  # a rescheduled: gone; c: a new pod
    production.load_versions("m", [2])
    assert [len(r.saw) for r in replicas] == [1, 2, 1, 0]
    assert {production.infer("m", {"IN": np.zeros(1)}).server for _ in range(4)} == {"b", "c"}
