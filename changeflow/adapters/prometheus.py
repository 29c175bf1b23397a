"""A metric provider over Prometheus's HTTP API (``GET /api/v1/query``): a team judges a bake on what its
gateway already exports, e.g. the client-side error rate. One query gives one value; an empty result is
``NoMetricData``, never zero (Flagger's "no values" error)."""

from __future__ import annotations

import math

import httpx

from changeflow.exceptions import NoMetricData, ServerUnavailable


class PrometheusProvider:
    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout_s: float = 5.0) -> None:
        self.url, self.headers, self.timeout_s = url.rstrip("/"), dict(headers or {}), timeout_s

    def query(self, query: str) -> float:
        """The value of an instant PromQL query that returns one sample (a scalar, or a vector of one)."""
        try:
            response = httpx.get(
                f"{self.url}/api/v1/query", params={"query": query}, headers=self.headers, timeout=self.timeout_s
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ServerUnavailable(
                f"prometheus at {self.url} does not answer ({exc.__class__.__name__}: {exc})"
            ) from None
        if body.get("status") != "success":
            raise ServerUnavailable(
                f"prometheus at {self.url} refused {query!r}: {body.get('errorType', '')} {body.get('error', response.text[:200])}"
            )
        data = body["data"]
        if data["resultType"] == "scalar":
            value = float(data["result"][1])
        elif data["resultType"] == "vector" and data["result"]:
            if len(data["result"]) > 1:
                raise ServerUnavailable(
                    f"prometheus query {query!r} returned {len(data['result'])} series; aggregate it to one (sum, max, …)"
                )
            value = float(data["result"][0]["value"][1])
        else:
            raise NoMetricData(f"prometheus query {query!r} matched no series")
        if math.isnan(value):  # e.g. a rate over a counter that saw no requests: 0/0
            raise NoMetricData(f"prometheus query {query!r} is NaN (no requests in its range)")
        return value
