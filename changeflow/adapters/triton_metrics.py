"""A metric provider over Triton's own ``/metrics`` text: the query is one metric name with optional
exact label matches, ``nv_inference_request_failure{model="m",version="2"}``; its value is the sum of
the matching samples. Enough for Triton's counters without a Prometheus; anything richer is PromQL's job."""

from __future__ import annotations

import re

import httpx
from prometheus_client.parser import text_string_to_metric_families

from changeflow.exceptions import NoMetricData, ServerUnavailable

_QUERY = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def parse_selector(query: str) -> tuple[str, dict[str, str]]:
    """``name{a="x",b="y"}`` as (name, labels); anything else is refused with the form that works."""
    match = _QUERY.match(query)
    if not match:
        raise ValueError(f'{query!r} is not metric_name{{label="value",…}}')
    name, body, labels = match.group(1), match.group(2) or "", {}
    position = 0
    while position < len(body.strip()):
        label = _LABEL.match(body, position)
        if not label:
            raise ValueError(f'{query!r}: labels must be exact matches, label="value"')
        labels[label.group(1)] = label.group(2)
        position = label.end()
    return name, labels


class TritonMetricsProvider:
    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url, self.timeout_s = url, timeout_s

    def query(self, query: str) -> float:
        name, labels = parse_selector(query)
        try:
            response = httpx.get(self.url, timeout=self.timeout_s)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ServerUnavailable(f"triton metrics at {self.url} do not answer ({exc})") from None
        found = [
            sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
            if sample.name.removesuffix("_total") == name.removesuffix("_total")
            and all(sample.labels.get(k) == v for k, v in labels.items())
        ]
        if not found:
            raise NoMetricData(f"{query} matched no series at {self.url}")
        return float(sum(found))
