"""Metric providers against the real thing: a private Prometheus (Debian's package) scraping the
session's Triton on loopback, and Triton's own /metrics."""

from urllib.parse import urlparse

import numpy as np
import pytest

from changeflow.adapters.metric_providers import provider_for
from changeflow.adapters.prometheus import PrometheusProvider
from changeflow.adapters.triton_metrics import TritonMetricsProvider, parse_selector
from changeflow.domain.verdicts import MetricCheck
from changeflow.exceptions import NoMetricData, ServerUnavailable
from changeflow.local.prometheus import LocalPrometheus, missing_reason
from changeflow.settings.environment import MetricProviderSettings

pytestmark = pytest.mark.triton
X = np.array([[0.5, -1.0, 2.0, 0.25]], dtype=np.float32)


@pytest.fixture(scope="module")
def prometheus(triton_process, tmp_path_factory):
    if reason := missing_reason():
        pytest.skip(f"Prometheus: {reason}")
    target = urlparse(triton_process.metrics_url).netloc
    with LocalPrometheus([target], home=tmp_path_factory.mktemp("prometheus")) as server:
        yield server


def eventually(ask, until, timeout_s=20.0):
    import time

    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        try:
            last = ask()
            if until(last):
                return last
        except NoMetricData as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout_s}s; last: {last!r}")


def test_prometheus_answers_a_query_about_traffic_it_scraped_from_triton(prometheus, triton_process):
    from changeflow.adapters.triton import TritonModelServer

    triton = TritonModelServer(triton_process.http_url, triton_process.metrics_url, name="session")
    before = TritonMetricsProvider(triton_process.metrics_url).query('nv_inference_request_success{model="classifier"}')
    for _ in range(25):
        triton.infer("classifier", {"INPUT": X})
    provider = PrometheusProvider(prometheus.url)
    seen = eventually(
        lambda: provider.query('sum(nv_inference_request_success{model="classifier"})'), lambda v: v >= before + 25
    )
    assert seen >= before + 25


def test_no_series_is_no_data_not_zero(prometheus):
    with pytest.raises(NoMetricData, match="matched no series"):
        PrometheusProvider(prometheus.url).query('nv_inference_request_success{model="no_such_model"}')


def test_a_query_of_many_series_or_bad_promql_or_no_server_is_an_error_that_says_so(prometheus):
    provider = PrometheusProvider(prometheus.url)
    eventually(lambda: provider.query("count(nv_inference_request_success)"), lambda v: v >= 1)
    with pytest.raises(ServerUnavailable, match="aggregate it to one"):
        provider.query("nv_inference_request_success")
    with pytest.raises(ServerUnavailable, match="refused"):
        provider.query("sum(rate(")
    from changeflow.local.processes import free_port

    with pytest.raises(ServerUnavailable, match="does not answer"):
        PrometheusProvider(f"http://127.0.0.1:{free_port()}", timeout_s=1).query("up")


def test_a_bake_check_on_prometheus_reads_the_change_s_model_and_version(prometheus):
    from changeflow.services.bake import check_metrics

    settings = MetricProviderSettings(kind="prometheus", url=prometheus.url)
    provider = provider_for(settings)
    failures = MetricCheck(
        name="failures",
        provider="prometheus",
        query='sum(nv_inference_request_failure{model="{{model}}",version="{{version}}"})',
        max_value=0,
    )
    eventually(
        lambda: provider.query('sum(nv_inference_request_failure{model="classifier",version="1"})'), lambda v: v >= 0
    )
    ok, missing = (
        check_metrics([(failures, provider), (failures, provider)], "classifier", 1, None),
        check_metrics([(failures, provider)], "classifier", 99, None),
    )
    assert ok[0].passed and ok[0].reason == "failures 0 <= 0"
    assert missing[0].outcome.value == "INCONCLUSIVE" and missing[0].reason == "failures: no data"


def test_triton_metrics_provider_sums_matching_series(triton_process):
    provider = provider_for(MetricProviderSettings(kind="triton", url=triton_process.metrics_url))
    assert provider.query('nv_inference_request_success{model="classifier"}') >= 0
    with pytest.raises(NoMetricData):
        provider.query('nv_inference_request_success{model="no_such_model"}')
    assert parse_selector('nv_x{a="1", b="two"}') == ("nv_x", {"a": "1", "b": "two"})
    with pytest.raises(ValueError, match="exact matches"):
        parse_selector('nv_x{a=~"1"}')
