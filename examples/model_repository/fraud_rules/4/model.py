"""fraud_rules v4: v2's answers, but fails a share of requests once warm; only the bake catches it."""

import os
import sys

MODEL_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [MODEL_DIR, os.path.dirname(MODEL_DIR)]  # the model's core module, the repository's sample_model

import numpy as np  # noqa: E402
from fraud_rules_core import FraudRulesModel  # noqa: E402


class TritonPythonModel(FraudRulesModel):
    DTYPE = np.float64
    FLAKY = True
