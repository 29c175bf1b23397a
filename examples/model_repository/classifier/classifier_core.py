"""A fixed linear classifier over a 4-float feature vector, served by Triton's Python backend.

Every version of `classifier` is this one class with different weights or behaviour, so the
versions differ only where the sample says they do:

- v1 ``baseline``: the reference weights.
- v2 ``retrained``: a small, good update (same labels on the golden set, scores within tolerance).
- v3 ``swapped``: classes permuted, so golden-set validation in staging must catch it.
- v4 ``flaky``: v2's weights, but once warm (after ``flaky_healthy_requests``, default 50, so the
  golden set in staging and a smoke test pass) it fails a configurable share of requests and may add
  latency: only production monitoring can catch it. Its knobs are model-config parameters:
  ``flaky_failure_share`` (default 0.1), ``flaky_failure_mode`` (``response``: per-response error,
  invisible to Triton's failure counter; ``raise``: exception from execute, counted as a failure),
  ``flaky_extra_latency_ms`` (default 0).

numpy is the only dependency; ``triton_python_backend_utils`` is imported lazily so the weights can
be imported by tests and by the golden-set generator outside Triton.
"""

import json
import time

import numpy as np

CLASSES = ("low", "medium", "high")

_W1 = np.array(
    [
        [1.20, -0.40, 0.30, -0.80],
        [-0.30, 0.90, -0.50, 0.20],
        [-0.70, -0.20, 1.10, 0.90],
    ],
    dtype=np.float32,
)
_B1 = np.array([0.10, 0.00, -0.10], dtype=np.float32)

WEIGHTS = {
    "baseline": (_W1, _B1),
    "retrained": (_W1 * np.float32(1.03), _B1 + np.float32(0.01)),
    "swapped": (_W1[[2, 0, 1]], _B1[[2, 0, 1]]),
}


def predict(features, weights="baseline"):
    """Softmax scores and arg-max labels for a [batch, 4] float32 array."""
    w, b = WEIGHTS[weights]
    logits = features.astype(np.float32) @ w.T + b
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    scores = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
    labels = scores.argmax(axis=1).astype(np.int32).reshape(-1, 1)
    return scores, labels


def _parameter(model_config, key, default):
    value = model_config.get("parameters", {}).get(key, {}).get("string_value")
    return default if value in (None, "") else value


class LinearClassifier:
    """Base TritonPythonModel; subclasses set WEIGHTS and FLAKY."""

    WEIGHTS = "baseline"
    FLAKY = False

    def initialize(self, args):
        config = json.loads(args["model_config"])
        self._version = args.get("model_version", "?")
        self._requests = 0
        share = float(_parameter(config, "flaky_failure_share", "0.1")) if self.FLAKY else 0.0
        self._fail_every = round(1.0 / share) if share > 0 else 0
        self._healthy = int(_parameter(config, "flaky_healthy_requests", "50"))
        self._failure_mode = _parameter(config, "flaky_failure_mode", "response")
        self._extra_latency_s = float(_parameter(config, "flaky_extra_latency_ms", "0")) / 1000.0 if self.FLAKY else 0.0

    def execute(self, requests):
        import triton_python_backend_utils as pb_utils

        if self._extra_latency_s:
            time.sleep(self._extra_latency_s)
        responses = []
        for request in requests:
            self._requests += 1
            if self._fail_every and self._requests > self._healthy and self._requests % self._fail_every == 0:
                message = f"classifier v{self._version}: injected failure on request {self._requests}"
                if self._failure_mode == "raise":
                    raise pb_utils.TritonModelException(message)
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message)))
                continue
            features = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            scores, labels = predict(features, self.WEIGHTS)
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[pb_utils.Tensor("SCORES", scores), pb_utils.Tensor("LABEL", labels)]
                )
            )
        return responses
