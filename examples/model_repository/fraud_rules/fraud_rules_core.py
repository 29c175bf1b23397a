"""A payment risk scorer with two inputs and two outputs of different datatypes, and no batching
(``max_batch_size: 0``): one payment per request.

AMOUNT FP64 [1] and SIGNALS BOOL [3] (new device, foreign card, night time) in; RISK FP32 [1] and
ACTION INT8 [1] (0 allow, 1 review, 2 block) out.
- v1: the baseline, in float32;  v2: the same rules in float64 (a good update);
- v3: wrong outputs: risk and action inverted;  v4: v2's answers, but fails a share of requests once warm.
"""

import numpy as np
from sample_model import SampleModel

WEIGHTS = np.array([1.2, 0.9, 0.4])


def assess(amount, signals, dtype=np.float32, invert=False):
    logit = (
        dtype(0.8) * np.log1p(amount.astype(dtype)) + (signals.astype(dtype) * WEIGHTS.astype(dtype)).sum() - dtype(6.0)
    )
    risk = (dtype(1.0) / (dtype(1.0) + np.exp(-logit))).astype(np.float32).reshape(1)
    if invert:
        risk = (np.float32(1.0) - risk).astype(np.float32)
    action = np.array([0 if risk[0] < 0.3 else 1 if risk[0] < 0.7 else 2], dtype=np.int8)
    return {"RISK": risk, "ACTION": action}


class FraudRulesModel(SampleModel):
    DTYPE = np.float32
    INVERT = False

    def predict(self, inputs):
        return assess(inputs["AMOUNT"], inputs["SIGNALS"], self.DTYPE, self.INVERT)
