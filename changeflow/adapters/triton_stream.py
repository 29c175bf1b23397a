"""Decoupled (streaming) models over Triton's gRPC streaming API (``ModelStreamInfer``, ``tritonclient.grpc``).

Triton refuses a decoupled model over HTTP ``infer``; over the gRPC stream each request gets any number of
responses. This client sends one request per stream and asks for the empty final response
(``enable_empty_final_response``), so a stream's end is always seen (``triton_final_response`` in the
response's parameters). Each stream has a deadline: a stream that does not end by then is cancelled and
reported as timed out, never waited on.

What ends a stream: its final response; its first error (the gRPC client drops the error response's
parameters, so whether the model would go on cannot be known: the stream is cancelled and the error
reported); or the deadline. A server that does not answer before any response raises ``ServerUnavailable``
(no measurement, not a model's failure); everything the model answered is data in the ``StreamResult``.

Works for any model: inputs are named arrays (datatypes from the model's config when given), every output
the server sends is read. ``tritonclient.grpc`` clients hold one stream at a time: each thread gets its own.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Mapping

import numpy as np
import tritonclient.grpc as triton_grpc
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from changeflow.domain.model_config import ModelConfig, config_from_dict
from changeflow.domain.streams import StreamResult
from changeflow.exceptions import InferenceError, InvalidSettings, ModelNotReady, ServerUnavailable
from changeflow.ports import InferenceResult

__all__ = ["TritonStreamClient"]

FINAL = "triton_final_response"
_UNREACHABLE = "StatusCode.UNAVAILABLE"
_DEADLINE = "StatusCode.DEADLINE_EXCEEDED"
_GRACE_S = 5.0  # the gRPC call's own timeout is the deadline plus this: a backstop, never the measure


class TritonStreamClient:
    """One Triton server's gRPC endpoint (``host:port``), for models that stream their responses."""

    def __init__(self, grpc_url: str, *, name: str = "triton", deadline_s: float = 60.0) -> None:
        address = grpc_url.removeprefix("grpc://").rstrip("/")
        if not address or "://" in address:
            raise InvalidSettings(
                name, "grpc_url", f"{grpc_url!r} is not a gRPC address", "write host:port, e.g. 127.0.0.1:8001"
            )
        if deadline_s <= 0:
            raise InvalidSettings(name, "deadline_s", f"{deadline_s} is not a deadline", "give seconds above 0")
        self.name, self.grpc_url, self.deadline_s = name, address, deadline_s
        self._local = threading.local()
        self._clients: list[triton_grpc.InferenceServerClient] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TritonStreamClient({self.name!r}, {self.grpc_url!r})"

    def _client(self) -> triton_grpc.InferenceServerClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = triton_grpc.InferenceServerClient(self.grpc_url)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def _drop(self) -> None:
        """Forget this thread's client after a failure: the next call starts from a fresh channel."""
        client, self._local.client = getattr(self._local, "client", None), None
        if client is not None:
            with self._lock:
                self._clients = [kept for kept in self._clients if kept is not client]
            _shut(client)

    def close(self) -> None:
        """Close every thread's channel; a stream still in flight is cancelled."""
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            _shut(client)
        self._local = threading.local()

    def model_config(self, model: str) -> ModelConfig:
        """The model's live config (say, to see whether it is decoupled: ``domain.streams.is_decoupled``)."""
        try:
            data = self._client().get_model_config(model, as_json=True)
        except InferenceServerException as exc:
            if exc.status() == _UNREACHABLE:
                self._drop()
                raise ServerUnavailable(
                    f"{self.name}: server at {self.grpc_url} does not answer: {exc.message()}"
                ) from None
            raise ModelNotReady(f"{self.name}: read config of {model} failed: {exc.message()}") from None
        return config_from_dict(data.get("config", {}), f"{self.name}/{model}")

    def stream(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        version: int | None = None,
        *,
        datatypes: Mapping[str, str] | None = None,
        deadline_s: float | None = None,
    ) -> StreamResult:
        """Send one request and read its stream until the final response, an error or the deadline
        (``deadline_s``, default the client's); ``datatypes`` names inputs' Triton datatypes (from the model's
        config), else they are read off the arrays."""
        deadline_s = self.deadline_s if deadline_s is None else deadline_s
        request = []
        for input_name, array in inputs.items():
            datatype = (datatypes or {}).get(input_name) or np_to_triton_dtype(array.dtype)
            tensor = triton_grpc.InferInput(input_name, list(array.shape), datatype)
            tensor.set_data_from_numpy(array)
            request.append(tensor)
        events: queue.SimpleQueue = queue.SimpleQueue()
        client = self._client()
        try:
            client.start_stream(
                lambda result, error: events.put((time.perf_counter(), result, error)), deadline_s + _GRACE_S
            )
            sent = time.perf_counter()
            client.async_stream_infer(
                model,
                request,
                model_version="" if version is None else str(version),
                enable_empty_final_response=True,
            )
        except InferenceServerException as exc:
            self._stop(client, cancel=True)
            self._drop()
            raise ServerUnavailable(
                f"{self.name}: stream to {model} not started at {self.grpc_url}: {exc.message()}"
            ) from None
        completed = False
        try:
            result = self._read(model, events, sent, deadline_s)
            completed = result.completed
            return result
        except ServerUnavailable:
            self._stop(client, cancel=True)
            self._drop()
            raise
        finally:
            self._stop(client, cancel=not completed)

    def answer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        version: int | None = None,
        datatypes: Mapping[str, str] | None = None,
    ) -> InferenceResult:
        """One request's whole stream as one answer (what golden sets, probes and smoke tests compare): each
        output's responses stacked along a leading axis, the latency its time to first response. A stream
        that broke or did not end is a failed request, naming how far it got."""
        streamed = self.stream(model, inputs, version, datatypes=datatypes)
        got = f"after {len(streamed.outputs)} responses"
        if streamed.error is not None:
            raise InferenceError(f"{self.name}: {model} stream broke {got}: {streamed.error}")
        if not streamed.completed:
            raise InferenceError(f"{self.name}: {model} stream did not end within {streamed.total_s:.1f} s ({got})")
        if streamed.version is None:
            raise InferenceError(f"{self.name}: {model} stream did not say which version answered")
        return InferenceResult(
            model=model,
            model_version=streamed.version,
            outputs=stacked(streamed.outputs),
            latency_ms=(streamed.arrivals_s[0] if streamed.arrivals_s else streamed.total_s) * 1000.0,
            server=self.name,
            stream=streamed,
        )

    def _read(self, model: str, events: queue.SimpleQueue, sent: float, deadline_s: float) -> StreamResult:
        outputs: list[dict[str, np.ndarray]] = []
        arrivals: list[float] = []
        answered: int | None = None
        error, completed, timed_out, ended = None, False, False, sent
        while True:
            try:
                at, result, failure = events.get(timeout=max(0.0, sent + deadline_s - time.perf_counter()))
            except queue.Empty:
                timed_out = True
                break
            if failure is not None:
                if failure.status() == _DEADLINE:
                    timed_out = True
                    break
                if failure.status() == _UNREACHABLE and not arrivals:
                    raise ServerUnavailable(
                        f"{self.name}: stream to {model} at {self.grpc_url} failed: {failure.message()}"
                    )
                error, ended = failure.message() or str(failure), at
                break
            response = result.get_response()
            answered = int(response.model_version) if response.model_version.isdigit() else answered
            final = FINAL in response.parameters and response.parameters[FINAL].bool_param
            if response.outputs or not final:  # the flags-only final response carries no answer
                outputs.append({tensor.name: result.as_numpy(tensor.name) for tensor in response.outputs})
                arrivals.append(at - sent)
            if final:
                completed, ended = True, at
                break
        return StreamResult(
            model=model,
            outputs=tuple(outputs),
            arrivals_s=tuple(arrivals),
            total_s=deadline_s if timed_out else ended - sent,
            completed=completed,
            error=error,
            timed_out=timed_out,
            version=answered,
            server=self.name,
        )

    def _stop(self, client: triton_grpc.InferenceServerClient, cancel: bool) -> None:
        """End the stream: gracefully after its final response, cancelled otherwise (a model that checks
        for cancellation stops generating)."""
        try:
            client.stop_stream(cancel_requests=cancel)
        except Exception:
            self._drop()


def stacked(responses: tuple[Mapping[str, np.ndarray], ...]) -> dict[str, np.ndarray]:
    """Each output's tensors over the responses, stacked along a new leading axis (``[responses, *shape]``);
    an output whose responses differ in shape is kept as an object array of them, to compare as it is."""
    names = list(dict.fromkeys(name for response in responses for name in response))
    outputs = {}
    for name in names:
        tensors = [response[name] for response in responses if name in response]
        try:
            outputs[name] = np.stack(tensors)
        except ValueError:
            outputs[name] = np.empty(len(tensors), dtype=object)
            outputs[name][:] = tensors
    return outputs


def _shut(client: triton_grpc.InferenceServerClient) -> None:
    """Cancel the client's stream, if any, then close its channel (``close()`` alone would wait for the
    stream to end)."""
    try:
        client.stop_stream(cancel_requests=True)
        client.close()
    except Exception:
        pass
