"""``ModelServer`` and ``MetricSource`` over a real Triton: ``tritonclient.http`` for the API,
``httpx`` for the Prometheus endpoint (parsed with ``prometheus_client``'s parser).

``tritonclient.http`` clients are not thread-safe, and Prefect runs tasks in threads: each thread gets
its own client. Repository calls carry the restricted-API header when one is configured.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import httpx
import numpy as np
import tritonclient.http as triton_http
from google.protobuf import json_format
from prometheus_client.parser import text_string_to_metric_families
from tritonclient.grpc.model_config_pb2 import ModelConfig
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from changeflow.adapters.triton_stream import TritonStreamClient
from changeflow.domain.model_config import config_from_dict, with_versions
from changeflow.domain.serving import MetricsSnapshot, VersionCounters, VersionState
from changeflow.domain.streams import is_decoupled
from changeflow.exceptions import (
    ConfigError,
    InferenceError,
    InvalidSettings,
    ModelLoadError,
    ModelNotReady,
    ServerUnavailable,
)
from changeflow.ports import InferenceResult

PROBE_MODEL = "__changeflow_model_control_probe__"  # no model has this name: loading it changes nothing
_COUNTERS = {
    "nv_inference_request_success": "success",
    "nv_inference_count": "inference_count",
    "nv_inference_request_duration_us": "request_duration_us",
    "nv_inference_queue_duration_us": "queue_duration_us",
    "nv_inference_compute_infer_duration_us": "compute_infer_duration_us",
}


def config_to_json(config: ModelConfig) -> str:
    """The JSON Triton's load API takes as a config override (the same config sent to every replica of a
    fleet, or again at a rollback, is converted once)."""
    return _json_of(config.SerializeToString(deterministic=True))


@functools.lru_cache(maxsize=64)
def _json_of(serialized: bytes) -> str:
    config = ModelConfig()
    config.ParseFromString(serialized)
    return json.dumps(json_format.MessageToDict(config, preserving_proto_field_name=True))


class TritonModelServer:
    """One Triton server reached over HTTP (``http_url``) with its metrics at ``metrics_url``."""

    def __init__(
        self,
        http_url: str,
        metrics_url: str | None = None,
        *,
        name: str = "triton",
        repository_headers: Mapping[str, str] | None = None,
        timeout_s: float = 60.0,
        grpc_url: str | None = None,
    ) -> None:
        self.name = name
        self.http_url = http_url.rstrip("/")
        self.metrics_url = metrics_url
        self.grpc_url = grpc_url
        self._headers = dict(repository_headers or {})
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._decoupled: dict[str, bool] = {}  # model -> streams? (read from its config, again after a load)
        self._stream_client = None

    def __repr__(self) -> str:
        return f"TritonModelServer({self.name!r}, {self.http_url!r})"

    def _client(self) -> triton_http.InferenceServerClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = triton_http.InferenceServerClient(
                urlsplit(self.http_url).netloc, connection_timeout=self._timeout_s, network_timeout=self._timeout_s
            )
            self._local.client = client
        return client

    def _call(self, what: str, fn, *args, error=ModelLoadError, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InferenceServerException as exc:
            raise error(f"{self.name}: {what} failed: {exc.message()}") from None
        except (OSError, ConnectionError) as exc:
            self._local.client = None
            raise ServerUnavailable(f"{self.name}: {what}: server at {self.http_url} does not answer ({exc})") from None

    # --- health and repository ---------------------------------------------------------------

    def ready(self) -> bool:
        try:
            return bool(self._client().is_server_ready())
        except Exception:
            self._local.client = None
            return False

    def server_version(self) -> str:
        return str(
            self._call("server metadata", self._client().get_server_metadata, error=ServerUnavailable)["version"]
        )

    def repository_index(self) -> list[VersionState]:
        rows = self._call("repository index", self._client().get_model_repository_index, headers=self._headers)
        return [
            VersionState(
                model=row["name"],
                version=int(row["version"]) if row.get("version") else None,
                state=row.get("state", "UNAVAILABLE"),
                reason=row.get("reason", ""),
            )
            for row in rows
        ]

    def explicit_model_control(self) -> tuple[bool, str]:
        """Whether the server takes explicit model loads (``--model-control-mode=explicit``), which every
        change to a model needs. Asked by loading a model that does not exist: nothing changes."""
        try:
            self._client().load_model(PROBE_MODEL, headers=self._headers)
        except InferenceServerException as exc:
            message = exc.message() or str(exc)
            if "failed to load" in message or "failed to poll" in message:
                return True, f"{self.name} accepts explicit model loads"
            if "not allowed" in message:
                return (
                    False,
                    f"{self.name} refuses explicit model loads ({message}); fix: start tritonserver with --model-control-mode=explicit",
                )
            return (
                False,
                f"{self.name} refused a probe load ({message}); fix: let changeflow use the repository API (repository_headers for a restricted one)",
            )
        except (OSError, ConnectionError) as exc:
            self._local.client = None
            return False, f"{self.name} at {self.http_url} does not answer ({exc})"
        return True, f"{self.name} accepts explicit model loads"

    def ready_versions(self, model: str) -> list[int]:
        return sorted(
            r.version for r in self.repository_index() if r.model == model and r.state == "READY" and r.version
        )

    def load(self, model: str, config: ModelConfig | None = None) -> None:
        """Load or reload ``model``: from its repository files, or with ``config`` as a full override.

        Prefer an explicit ``config``: after an override, a plain load re-reads the files but Triton
        2.51 keeps reporting (part of) the old override's config (measured), which misleads checks.
        """
        override = config_to_json(config) if config is not None else None
        self._decoupled.pop(model, None)
        self._call(f"load {model}", self._client().load_model, model, headers=self._headers, config=override)

    def load_versions(self, model: str, versions: Sequence[int], base_config: ModelConfig | None = None) -> None:
        """Serve exactly ``versions`` of ``model`` (version_policy specific), keeping the rest of its config.

        The config comes from the server when the model is loaded, else ``base_config`` must be given.
        """
        if base_config is None:
            if not self.ready_versions(model):
                raise ModelNotReady(f"{self.name}: {model} is not loaded; pass its repository config as base_config")
            base_config = self.model_config(model)
        self.load(model, with_versions(base_config, versions))
        missing = set(versions) - set(self.ready_versions(model))
        if missing:
            raise ModelNotReady(f"{self.name}: {model} versions {sorted(missing)} not READY after load")

    def unload(self, model: str) -> None:
        self._decoupled.pop(model, None)
        self._call(f"unload {model}", self._client().unload_model, model, headers=self._headers)

    def model_config(self, model: str) -> ModelConfig:
        data = self._call(f"read config of {model}", self._client().get_model_config, model, error=ModelNotReady)
        return config_from_dict(data, f"{self.name}/{model}")

    # --- inference ---------------------------------------------------------------------------

    def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        version: int | None = None,
        datatypes: Mapping[str, str] | None = None,
    ) -> InferenceResult:
        """One request; ``datatypes`` names each input's Triton datatype (from the model's config), else
        it is read off the array (which cannot tell BF16 from FP32). A streaming (decoupled) model, which
        Triton refuses over HTTP, is asked over the gRPC stream: its answer is the whole stream."""
        if self._streams_answers(model):
            return self._streams().answer(model, inputs, version, datatypes)
        request = []
        for input_name, array in inputs.items():
            datatype = (datatypes or {}).get(input_name) or np_to_triton_dtype(array.dtype)
            tensor = triton_http.InferInput(input_name, list(array.shape), datatype)
            tensor.set_data_from_numpy(array, binary_data=True)
            request.append(tensor)
        started = time.perf_counter()
        result = self._call(
            f"infer {model}",
            self._client().infer,
            model,
            request,
            model_version="" if version is None else str(version),
            error=InferenceError,
        )
        latency_ms = (time.perf_counter() - started) * 1000.0
        response = result.get_response()
        outputs = {out["name"]: result.as_numpy(out["name"]) for out in response.get("outputs", [])}
        return InferenceResult(
            model=model,
            model_version=int(response["model_version"]),
            outputs=outputs,
            latency_ms=latency_ms,
            server=self.name,
        )

    def _streams_answers(self, model: str) -> bool:
        """Whether ``model`` streams, from its live config (read once, and again after a load); a model whose
        config cannot be read is asked over HTTP, which gives the error."""
        if model not in self._decoupled:
            try:
                self._decoupled[model] = is_decoupled(self.model_config(model))
            except (ModelNotReady, ConfigError):
                return False
        return self._decoupled[model]

    def _streams(self) -> TritonStreamClient:
        if self.grpc_url is None:
            raise InvalidSettings(
                self.name,
                "grpc_url",
                "is not set; a streaming (decoupled) model is called over Triton's gRPC API",
                "add grpc_url: HOST:8001 (the server's --grpc-port) to this server in the environment file",
            )
        if self._stream_client is None:
            self._stream_client = TritonStreamClient(self.grpc_url, name=self.name, deadline_s=self._timeout_s)
        return self._stream_client

    # --- metrics -----------------------------------------------------------------------------

    def scrape(self) -> MetricsSnapshot:
        if not self.metrics_url:
            raise ServerUnavailable(f"{self.name}: no metrics URL configured")
        try:
            response = httpx.get(self.metrics_url, timeout=5.0)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ServerUnavailable(f"{self.name}: metrics at {self.metrics_url} do not answer ({exc})") from None
        return parse_metrics(response.text, taken_at=time.monotonic())


def parse_metrics(text: str, taken_at: float) -> MetricsSnapshot:
    """Per-(model, version) counters from Triton's Prometheus text."""
    values: dict[tuple[str, int], dict] = defaultdict(lambda: {"failure_by_reason": {}})
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name.removesuffix("_total")  # the parser appends _total to counter samples
            model, version = sample.labels.get("model"), sample.labels.get("version")
            if not model or not version or not version.isdigit():
                continue
            row = values[(model, int(version))]
            if name == "nv_inference_request_failure":
                row["failure_by_reason"][sample.labels.get("reason", "OTHER")] = sample.value
            elif name in _COUNTERS:
                row[_COUNTERS[name]] = sample.value
    counters = tuple(
        VersionCounters(model=m, version=v, failure=sum(row["failure_by_reason"].values()), **row)
        for (m, v), row in sorted(values.items())
    )
    return MetricsSnapshot(taken_at=taken_at, counters=counters)
