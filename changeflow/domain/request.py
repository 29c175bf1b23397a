"""A change request: what someone asks to change, validated field by field before anything runs.

One model for every entry point (YAML file, Prefect UI form, CLI): ``extra="forbid"`` so a typo is an
error rather than a silently ignored field, and each field says what it accepts.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from changeflow.domain.types import ChangeKind, ChangeType

CHANGE_ID = r"^CHG-[0-9]{4,}$"
IDENTITY = r"^[a-z][a-z0-9._-]{1,63}$"
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
K8S_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
IMAGE = r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$"
CONFIG_PATH = r"^[a-z_][a-z0-9_]*(\.([a-z_][a-z0-9_]*|[0-9]+))*$"

K8sName = Annotated[str, Field(pattern=K8S_NAME, description="a Kubernetes name: lowercase letters, digits and '-'")]
Version = Annotated[int, Field(ge=1, le=1_000_000, description="a model version directory number, 1 or more")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class ModelDeployment(_Strict):
    """Serve a new version of a model: stage, validate, promote (warm standby), smoke, bake, close."""

    kind: Literal[ChangeKind.MODEL_DEPLOYMENT] = ChangeKind.MODEL_DEPLOYMENT
    to_version: Version
    from_version: Version | None = Field(None, description="version serving now; omitted: read from production")
    golden_set: str = Field(min_length=1, description="path of the golden set (inputs and expected outputs)")
    bake_seconds: int = Field(60, ge=1, le=86_400, description="how long production is monitored after promotion")

    @model_validator(mode="after")
    def _versions_differ(self) -> "ModelDeployment":
        if self.from_version is not None and self.from_version == self.to_version:
            raise ValueError("to_version equals from_version: nothing would change")
        return self


ConfigValue = Union[bool, int, float, str]


class ConfigChange(_Strict):
    """Set fields of a model's config.pbtxt (dotted paths, e.g. ``dynamic_batching.max_queue_delay_microseconds``)."""

    kind: Literal[ChangeKind.CONFIG_CHANGE] = ChangeKind.CONFIG_CHANGE
    set: dict[Annotated[str, Field(pattern=CONFIG_PATH)], ConfigValue] = Field(
        min_length=1, max_length=50, description="config field paths in lowercase, e.g. instance_group.0.count"
    )


class TritonUpgrade(_Strict):
    """Roll a Kubernetes Deployment of Triton to a new image; undo restores the previous template."""

    kind: Literal[ChangeKind.TRITON_UPGRADE] = ChangeKind.TRITON_UPGRADE
    namespace: K8sName
    deployment: K8sName
    container: K8sName = "triton"
    image: str = Field(pattern=IMAGE, description="container image, e.g. nvcr.io/nvidia/tritonserver:24.10-py3")
    args: list[str] | None = None
    progress_deadline_seconds: int = Field(600, ge=1, le=7_200)
    golden_set: str = Field(min_length=1, description="golden set for the smoke test through the serving endpoint")


class BlueGreen(_Strict):
    """Start green beside blue, validate green, switch the Service selector, retire blue after a bake."""

    kind: Literal[ChangeKind.BLUE_GREEN] = ChangeKind.BLUE_GREEN
    namespace: K8sName
    service: K8sName
    blue: K8sName = Field(description="the Deployment serving now")
    green: K8sName = Field(description="the Deployment to create or update")
    image: str = Field(pattern=IMAGE, description="container image, e.g. nvcr.io/nvidia/tritonserver:24.10-py3")
    container: K8sName = "triton"
    golden_set: str = Field(min_length=1, description="golden set that validates green through its own endpoint")
    bake_seconds: int = Field(60, ge=1, le=86_400)
    progress_deadline_seconds: int = Field(600, ge=1, le=7_200)

    @model_validator(mode="after")
    def _distinct(self) -> "BlueGreen":
        if self.blue == self.green:
            raise ValueError("green must name a different Deployment than blue")
        return self


ChangeSpec = Annotated[Union[ModelDeployment, ConfigChange, TritonUpgrade, BlueGreen], Field(discriminator="kind")]


class RequestedWindow(_Strict):
    """When the requester wants the change to happen: no earlier than, and done by."""

    not_before: AwareDatetime | None = None
    deadline: AwareDatetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "RequestedWindow":
        if self.not_before and self.deadline and self.deadline <= self.not_before:
            raise ValueError("deadline must be after not_before")
        return self


class Communication(_Strict):
    """Who was told: evidence for the pre-change checklist."""

    announced_in: str | None = Field(None, min_length=3, description="where the window was announced, e.g. #inference-changes")
    on_call_ack: str | None = Field(None, pattern=IDENTITY, description="the on-call engineer who acknowledged the change")


class ChangeRequest(_Strict):
    id: str = Field(pattern=CHANGE_ID, description="change ID, e.g. CHG-0042")
    type: ChangeType
    description: str = Field(min_length=10, max_length=4_000)
    requester: str = Field(pattern=IDENTITY, description="who asks for the change (lowercase identity)")
    model: str = Field(pattern=MODEL_NAME, description="the model whose serving this change affects")
    change: ChangeSpec
    rollback_plan: str = Field(min_length=10, max_length=4_000)
    window: RequestedWindow = Field(default_factory=RequestedWindow)
    communication: Communication = Field(default_factory=Communication)

    @property
    def kind(self) -> ChangeKind:
        return self.change.kind
