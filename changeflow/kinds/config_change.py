"""Config change: set fields of a model's config.pbtxt and reload; rollback writes the previous bytes back.

The exact previous file is kept on the record, so the revert is byte for byte; the versions production
serves are carried over on every reload, so a config change never changes which versions serve.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import BeforeValidator, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from changeflow.domain.drift import Target
from changeflow.domain.model_config import ModelConfig, differences, parse_config, setting_of
from changeflow.domain.request import VERIFY_RESTORED, ChangeRequest, ChangeSpec, KindPlan, Text, steps, visible
from changeflow.exceptions import ChangeflowError
from changeflow.kinds import ChangeKind, LiveSystem, production_model

CONFIG_PATH = r"^[a-z_][a-z0-9_]*(\.([a-z_][a-z0-9_]*|[0-9]+))*$"


def _config_value(value: object) -> object:
    """One clear refusal for a value no config.pbtxt field can take (a union would list four)."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValueError(f"{str(value)[:30]} does not fit a 64-bit integer")
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("is not a finite number")
        return value
    raise ValueError(f"must be a number, true / false or a string, not a {type(value).__name__}")


ConfigValue = Annotated[
    StrictBool | StrictInt | StrictFloat | Annotated[Text, Field(max_length=1000)], BeforeValidator(_config_value)
]

FLOW_NAME = "config-change"  # the @flow name of flows/config_change.py: recovery watches its runs by it

# Its steps: the plan lists them, tasks/config_change.py records them (with VERIFY_RESTORED)
BACKUP_CONFIG = "backup_config"
APPLY_CONFIG = "apply_config"
RELOAD = "reload"
VERIFY_CONFIG = "verify_config"
RESTORE_CONFIG = "restore_config"


class ConfigChange(ChangeSpec):
    """Set fields of a model's config.pbtxt (dotted paths, e.g. dynamic_batching.max_queue_delay_microseconds)."""

    model_config = ConfigDict(title="Change a model's config")

    kind: Literal["config_change"] = "config_change"
    set: dict[Annotated[str, Field(pattern=CONFIG_PATH)], ConfigValue] = Field(
        min_length=1,
        max_length=50,
        title="Set",
        description="config.pbtxt fields to set, as dotted paths in lowercase, e.g. instance_group.0.count: 2",
    )


class ConfigChangeKind(ChangeKind):
    spec = ConfigChange
    loads_models_on = ("production",)
    risk_points = 1
    writes_repository = True
    peak_hours_risk = False  # a config tweak is the standard change of business hours
    flow_name = FLOW_NAME

    def plan(self, model: str, c: ConfigChange) -> KindPlan:
        fields = ", ".join(f"{k}={v!r}" for k, v in c.set.items())
        return KindPlan(
            touches=(f"model repository: {model}/config.pbtxt", f"triton/production: model {model}"),
            execution=steps(
                (BACKUP_CONFIG, f"keep the exact bytes of {model}/config.pbtxt"),
                (APPLY_CONFIG, f"set {fields} in {model}/config.pbtxt"),
                (RELOAD, f"reload {model} on production and wait until READY"),
            ),
            verification=steps(
                (VERIFY_CONFIG, f"the served config shows the new values; a smoke inference on {model}"),
            ),
            rollback=steps(
                (RESTORE_CONFIG, f"write back the previous {model}/config.pbtxt byte for byte and reload {model}"),
                (VERIFY_RESTORED, "served config equals the previous one; smoke inference"),
            ),
        )

    def size_risk(self, c: ConfigChange) -> tuple[int, str] | None:
        return (1, f"{len(c.set)} config fields at once") if len(c.set) > 3 else None

    def catalog_fields(self, c: ConfigChange) -> dict[str, object]:
        return dict(c.set)

    def previous_state(self, services: LiveSystem, request: ChangeRequest) -> tuple[bool | None, str]:
        try:
            services.config_store().read_config(request.model)
            ready = services.production.ready_versions(request.model)
        except ChangeflowError as exc:
            return False, str(exc)
        return bool(ready), f"current {request.model}/config.pbtxt readable, {request.model} READY {ready}"

    def drift_targets(self, services: LiveSystem, request: ChangeRequest) -> list[Target]:
        return production_model(services, request)


KIND = ConfigChangeKind()


BACKUP = "config.pbtxt.before"  # the record attachment holding the exact previous file


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def config_problem(
    served: ModelConfig, settings: dict | None, previous_text: str | None, current_text: str | None
) -> str | None:
    """What is wrong with the served config after a change (``settings`` must show) or after a revert
    (the file must be the previous bytes, and the server must serve it); None when it is right."""
    if settings:
        wrong = [
            f"{path} is {setting_of(served, path)!r}, expected {value!r}"
            for path, value in settings.items()
            if str(setting_of(served, path)) != str(value)
        ]
        if wrong:
            return "served config: " + "; ".join(wrong)
    if previous_text is not None:
        if current_text != previous_text:
            return f"config.pbtxt sha256 {digest(current_text or '')} != previous {digest(previous_text)}"
        previous = parse_config(previous_text)
        previous.ClearField("version_policy")  # serving versions are carried over, not restored
        if drift := differences(previous, served):
            return "served config differs from the previous one: " + "; ".join(drift[:3])
    return None
