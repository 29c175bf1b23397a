"""deployments/prefect.yaml names real flows, and what `changeflow serve` deploys matches it."""

from pathlib import Path

import yaml
from prefect.flows import load_flow_from_entrypoint

from changeflow.local.serve import EVERY, FLOWS, HOUSEKEEPING

ROOT = Path(__file__).resolve().parents[2]


def test_every_deployment_entrypoint_is_a_flow_with_defaults_for_its_settings():
    spec = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    names = []
    for deployment in spec["deployments"]:
        flow = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
        names.append(deployment["name"])
        required = {p for p, field in flow.parameters.properties.items() if p in (flow.parameters.required or [])}
        assert required <= {"request", "change_id", "window", "reviewer", "summary", "signature"}, (
            deployment["name"],
            required,
        )  # settings come from the environment file
        assert deployment["work_pool"]["name"] == "changeflow-local"
    assert names == [name for _, name in FLOWS]
    assert [d["entrypoint"] for d in spec["deployments"]] == [entry for entry, _ in FLOWS]
    # the scheduled housekeeping runs carry a tag the runs list can leave out, as `changeflow serve` tags them
    assert {d["name"] for d in spec["deployments"] if HOUSEKEEPING in d["tags"]} == EVERY
