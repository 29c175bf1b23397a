"""fraud_rules v3: wrong outputs: risk and action inverted; golden validation in staging catches it."""

import os
import sys

MODEL_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [MODEL_DIR, os.path.dirname(MODEL_DIR)]  # the model's core module, the repository's sample_model

from fraud_rules_core import FraudRulesModel  # noqa: E402


class TritonPythonModel(FraudRulesModel):
    INVERT = True
