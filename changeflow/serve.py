"""``changeflow serve``: one command for a working site on this machine — a Prefect server (the one
``PREFECT_API_URL`` names, else a local one), production and staging Tritons, and the change flows
served as deployments whose runs the Prefect UI can start, with the safety net on a schedule.

Engineers trigger ``normal-change/normal`` (etc.) from the UI with a change request in the form;
approvers resume the paused runs there.
"""

from __future__ import annotations

import sys
from datetime import timedelta

from changeflow import paths
from changeflow.environment import Environment
from changeflow.governance import Governance


def change_deployments(environment: Environment, governance: Governance, safety_net_every_s: int = 60) -> list:
    """Deployments of the change flows with this site's environment and governance as defaults."""
    from flows.lifecycle import emergency_change, normal_change, standard_change
    from flows.rollback import rollback_change
    from flows.safety import safety_net

    defaults = {"environment": environment.model_dump(mode="json"), "governance": governance.model_dump(mode="json")}
    deployments = [
        flow.to_deployment(name=name, parameters=defaults, tags=["changeflow"], description=flow.__doc__)
        for flow, name in ((standard_change, "standard"), (normal_change, "normal"), (emergency_change, "emergency"))
    ]
    deployments.append(rollback_change.to_deployment(name="rollback", parameters={"environment": defaults["environment"]}, tags=["changeflow"]))
    deployments.append(
        safety_net.to_deployment(name="safety-net", parameters={"environment": defaults["environment"]}, interval=timedelta(seconds=safety_net_every_s), tags=["changeflow"])
    )
    return deployments


def main() -> None:
    """The child process of ``changeflow serve`` (``PREFECT_API_URL`` set): Tritons, site file, deployments."""
    import yaml
    from prefect import serve

    from changeflow.adapters.triton_server import TritonServer
    from changeflow.environment import BakeSettings, RecordStoreSettings, ServerEndpoint
    from changeflow.loader import load_governance

    site_file = paths.PROJECT_ROOT / ".changeflow" / "site.yaml"
    with TritonServer(paths.MODEL_REPOSITORY, name="production", copy_repository=True, load_models=["classifier", "feature_scaler"]) as prod, \
         TritonServer(paths.MODEL_REPOSITORY, name="staging", copy_repository=True) as staging:
        environment = Environment(
            production=ServerEndpoint(name="production", http_url=prod.http_url, metrics_url=prod.metrics_url, repository=prod.repository),
            staging=ServerEndpoint(name="staging", http_url=staging.http_url, metrics_url=staging.metrics_url, repository=staging.repository),
            records=RecordStoreSettings(kind="prefect"),
            bake=BakeSettings(interval_s=1.0),
        )
        site_file.parent.mkdir(parents=True, exist_ok=True)
        site_file.write_text(yaml.safe_dump(environment.model_dump(mode="json"), sort_keys=False))
        print(f"production Triton {prod.http_url}, staging {staging.http_url}; site written to {site_file}", file=sys.stderr, flush=True)
        serve(*change_deployments(environment, load_governance(paths.EXAMPLES)))


if __name__ == "__main__":
    main()
