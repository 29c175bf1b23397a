"""Regenerate classifier.json: the golden set of the sample classifier, from version 1's weights
(the other sample models' golden sets are made with `changeflow golden capture`).

    .venv/bin/python examples/golden/make_golden.py
"""

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "model_repository" / "classifier"))

from classifier_core import predict  # noqa: E402

rng = np.random.default_rng(20261125)
inputs = np.round(rng.normal(0.0, 2.0, size=(16, 4)), 3).astype(np.float32)
scores, labels = predict(inputs, "baseline")
golden = {
    "model": "classifier",
    "description": "Golden set of the sample classifier: 16 feature vectors with version 1's scores and labels.",
    "inputs": {"INPUT": {"datatype": "FP32", "shape": [4]}},
    "outputs": {"SCORES": {"datatype": "FP32", "shape": [3]}, "LABEL": {"datatype": "INT32", "shape": [1]}},
    "compare": {"SCORES": {"rtol": 0.0, "atol": 0.05}},  # a retrained version may move scores a little; LABEL is exact
    "latency_budget_ms": {"p95": 250.0},
    "cases": [
        {"inputs": {"INPUT": x.tolist()}, "expected": {"SCORES": [round(float(v), 6) for v in s], "LABEL": [int(l[0])]}}
        for x, s, l in zip(inputs, scores, labels)
    ],
}
(HERE / "classifier.json").write_text(json.dumps(golden, indent=1) + "\n")
print(f"wrote {len(golden['cases'])} cases to {HERE / 'classifier.json'}")
