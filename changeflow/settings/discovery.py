"""Replicas found rather than listed: the pods a Kubernetes Service routes to, read from its EndpointSlices.

A fleet on Kubernetes changes under a change (pods rescheduled, scaled, restarted), so its replicas are
read from the API while the change runs instead of written into the environment file. Nothing here opens
a connection; ``changeflow.adapters.endpoint_slices`` reads the slices with the official client.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # the label Kubernetes puts on a Service's EndpointSlices


class ReplicaDiscovery(BaseModel):
    """Which Service's pods are the replicas, and which of their ports serve Triton's HTTP API and metrics
    (a port's name in the Service, e.g. ``http``, or its number on the pod)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    service: str = Field(min_length=1, description="the Kubernetes Service in front of the Triton pods")
    namespace: str = Field("default", min_length=1)
    http_port: str | int = Field("http", description="the pods' Triton HTTP port: its name in the Service, or a number")
    metrics_port: str | int | None = Field(
        "metrics", description="the pods' Triton metrics port (name or number); None: the pods' counters are not read"
    )
    grpc_port: str | int | None = Field(
        None, description="the pods' Triton gRPC port (name or number): streaming (decoupled) models need it"
    )
    scheme: Literal["http", "https"] = "http"
    refresh_s: float = Field(
        5.0, gt=0, le=300, description="how long a list of replicas is used before the EndpointSlices are read again"
    )
    stale_s: float = Field(
        60.0,
        ge=0,
        le=3600,
        description="when the Kubernetes API does not answer, the last list is used for this long, then a step fails",
    )
