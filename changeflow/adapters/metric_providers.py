"""The one factory of metric providers (Flagger's ``providers/factory.go``): a settings ``kind`` names
its class; an unknown kind raises, never falls back."""

from __future__ import annotations

from changeflow.adapters.prometheus import PrometheusProvider
from changeflow.adapters.triton_metrics import TritonMetricsProvider
from changeflow.exceptions import InvalidSettings
from changeflow.ports import MetricProvider
from changeflow.settings.environment import MetricProviderSettings


def provider_for(settings: MetricProviderSettings) -> MetricProvider:
    if settings.kind == "prometheus":
        return PrometheusProvider(settings.url, headers=settings.headers, timeout_s=settings.timeout_s)
    if settings.kind == "triton":
        return TritonMetricsProvider(settings.url, timeout_s=settings.timeout_s)
    raise InvalidSettings(
        "environment", "bake.providers.*.kind", f"unknown metric provider {settings.kind!r}", "use prometheus or triton"
    )
