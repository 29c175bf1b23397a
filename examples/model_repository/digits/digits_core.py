"""An 8×8 handwritten-digit classifier: nearest centroid over scikit-learn's bundled digits data
(``centroids.npy``, made by ``make_data.py``), softmax over negative squared distances.

IMAGE UINT8 [8, 8] in (0–255), batched; LABEL INT64 [1] and PROBS FP32 [10] out.
- v1: the baseline, computed in float32;
- v2: a good update: the same model computed in float64 (answers equal to v1's within 1e-6);
- v3: wrong outputs: labels and probabilities shifted by one class (golden validation catches it);
- v4: v2's answers, but fails a share of requests once warm (only the bake catches it).
"""

import os

import numpy as np
from sample_model import SampleModel

CENTROIDS = np.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "centroids.npy")).reshape(10, 64)
TEMPERATURE = 20000.0


def classify(images, dtype=np.float32, shift=0):
    x = images.reshape(len(images), 64).astype(dtype)
    d2 = ((x[:, None, :] - CENTROIDS.astype(dtype)[None, :, :]) ** 2).sum(axis=2)
    logits = -d2 / dtype(TEMPERATURE)
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs = (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)
    probs = np.roll(probs, shift, axis=1)
    return {"LABEL": probs.argmax(axis=1).astype(np.int64).reshape(-1, 1), "PROBS": probs}


class DigitsModel(SampleModel):
    DTYPE = np.float32
    SHIFT = 0

    def predict(self, inputs):
        return classify(inputs["IMAGE"], self.DTYPE, self.SHIFT)
