"""fraud_rules v2: a good update: the same rules in float64."""

import os
import sys

MODEL_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [MODEL_DIR, os.path.dirname(MODEL_DIR)]  # the model's core module, the repository's sample_model

import numpy as np  # noqa: E402
from fraud_rules_core import FraudRulesModel  # noqa: E402


class TritonPythonModel(FraudRulesModel):
    DTYPE = np.float64
