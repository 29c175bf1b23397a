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
- v5 ``slower``: v2's answers, only slower (``slow_extra_latency_ms``, default 2.0 per batch): only a
  comparison with the old version catches it.
- v6 ``erratic``: v2's answers, but fails 2 % of requests once warm (``erratic_failure_share``).

numpy is the only dependency; ``triton_python_backend_utils`` is imported lazily (in ``sample_model``) so
the weights can be imported by tests and by the golden-set generator outside Triton.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository's sample_model
from sample_model import SampleModel  # noqa: E402

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


class LinearClassifier(SampleModel):
    """Base TritonPythonModel; subclasses set WEIGHTS and FLAKY (version 4's misbehaviour, in ``sample_model``)."""

    WEIGHTS = "baseline"

    def predict(self, inputs):
        scores, labels = predict(inputs["INPUT"], self.WEIGHTS)
        return {"SCORES": scores, "LABEL": labels}
