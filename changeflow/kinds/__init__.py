"""Change kinds: one module per kind, each holding everything the kind knows.

A kind module defines its request spec (a ``ChangeSpec`` subclass with ``kind: Literal["name"]``), its
plan, its risk points, what the pre-change checklist checks as "previous state available" and the name of
the Prefect flow that executes it (by which recovery watches its runs), and exposes them as ``KIND``, an
instance of ``ChangeKind``. The flow and the restore live in ``flows/<kind>.py``, found by the kind's name
there (``flows/kind_flows.py``): a kind never points up to them. Every module in this
package is found at import (no list to edit), and the union of the specs is bound into ``ChangeRequest``.
Nothing outside this package branches on a kind: it asks the registry (``kind_of``, ``KINDS``) instead.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Annotated, Any, ClassVar, Protocol, Union

from pydantic import Field

from changeflow.domain import request as _request
from changeflow.domain.comparison import BakeRule, Verification
from changeflow.domain.drift import Target
from changeflow.domain.policy import ChangePlan, plan_change
from changeflow.domain.request import ChangeRequest, ChangeSpec, KindPlan, Risk
from changeflow.exceptions import UnknownKind
from changeflow.ports import Cluster, ConfigStore, ModelServer


class LiveSystem(Protocol):
    """What a kind reads of the live system (the checklist's previous state, the serving version, what it
    leaves approved): ``bootstrap.Services`` in a run, the fakes' in a test. A kind is typed with this, not
    with ``Services``, so it never imports the composition root, which sits above it."""

    @property
    def production(self) -> ModelServer: ...

    def config_store(self) -> ConfigStore: ...

    def cluster(self) -> Cluster: ...


class ChangeKind:
    """What one kind of change is and does; subclass it once per module of ``changeflow.kinds``."""

    spec: ClassVar[type[ChangeSpec]]
    risk_points: ClassVar[int] = 2
    peak_hours_risk: ClassVar[bool] = True  # a run in business hours adds a risk point
    loads_models_on: ClassVar[
        tuple[str, ...]
    ] = ()  # servers whose repository API it uses: checked for explicit model control
    writes_repository: ClassVar[bool] = False  # keeps what it does in production's model repository (checked)
    flow_name: ClassVar[str]  # the @flow(name=...) of flows/<kind>.py: recovery watches the runs of every kind by it
    shown_first: ClassVar[bool] = False  # the kind the Run form opens on (the most common change)

    @property
    def name(self) -> str:
        return self.spec.model_fields["kind"].default

    def plan(self, model: str, spec: Any) -> KindPlan:
        raise NotImplementedError

    def size_risk(self, spec: Any) -> tuple[int, str] | None:
        """(points, reason) when the change is large for its kind."""
        return None

    def catalog_fields(self, spec: Any) -> dict[str, object]:
        """What a standard-change template must bound for this kind (nothing, unless the kind says so)."""
        return {}

    def previous_state(self, services: LiveSystem, request: ChangeRequest) -> tuple[bool | None, str]:
        """Checklist: is what a rollback returns to available on the live system? (None: not applicable)."""
        return None, "not applicable to this kind"

    def serving_version(self, services: LiveSystem, request: ChangeRequest) -> int | None:
        """The version serving now, for kinds that change versions (read at assessment, so every outcome
        of the record says what served before, and after)."""
        return None

    def nothing_to_do(self, services: LiveSystem, request: ChangeRequest) -> tuple[str, str] | None:
        """(field, why) when the live system already is what the change asks for: refused before anything
        runs, so no record "closes" a change that changed nothing."""
        return None

    def drift_targets(self, services: LiveSystem, request: ChangeRequest) -> list[Target]:
        """What on production the change leaves in an approved state, watched for drift afterwards."""
        return []

    def waves(self, verification: Verification, change_type: Any) -> tuple[int | str, ...] | None:
        """How the kind widens over a fleet (governance's waves for the change type); None: it does not."""
        return None

    def bake_rule(self, verification: Verification, spec: Any) -> BakeRule | None:
        """What judges this kind's bake, from governance's verification (None: it does not bake). Its flow
        bakes with it and the approval form shows it, so approvers read what will judge."""
        return None

    def golden_set(self, spec: Any) -> str | None:
        return getattr(spec, "golden_set", None)


def production_model(services: LiveSystem, request: ChangeRequest) -> list[Target]:
    """``drift_targets`` of a kind that changes the request's model on the production server."""
    return [Target(kind="triton_model", where=services.production.name, name=request.model, model=request.model)]


def _discover() -> dict[str, ChangeKind]:
    found: dict[str, ChangeKind] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
        kind = getattr(importlib.import_module(f"{__name__}.{module}"), "KIND", None)
        if not isinstance(kind, ChangeKind):
            raise UnknownKind(f"changeflow.kinds.{module} defines no KIND = <ChangeKind subclass>()")
        found[kind.name] = kind
    return found


KINDS: dict[str, ChangeKind] = _discover()

FORM_ORDER: tuple[str, ...] = tuple(sorted(KINDS, key=lambda name: (not KINDS[name].shown_first, name)))
_specs = tuple(KINDS[name].spec for name in FORM_ORDER)  # the union's order is the Run form's
_request.KindSpec = (  # type: ignore[attr-defined]
    Annotated[Union[_specs], Field(discriminator="kind")] if len(_specs) > 1 else _specs[0]  # noqa: UP007 (a union of a tuple built at run time)
)
ChangeRequest.model_rebuild(force=True)


def kind_of(name: str | ChangeRequest) -> ChangeKind:
    """The kind of a request (or a kind by name); an unknown one raises, naming the known kinds."""
    key = name.kind if isinstance(name, ChangeRequest) else str(name)
    try:
        return KINDS[key]
    except KeyError:
        raise UnknownKind(f"unknown change kind {key!r}; known: {', '.join(KINDS)}") from None


def plan_for(request: ChangeRequest, risk: Risk | None = None, warnings: tuple[str, ...] = ()) -> ChangePlan:
    """The request's plan: its kind's steps under its type's governance."""
    return plan_change(request, kind_of(request).plan(request.model, request.change), risk, warnings)


__all__ = ["ChangeKind", "KINDS", "LiveSystem", "kind_of", "plan_for"]
