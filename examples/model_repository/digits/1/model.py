"""digits v1: the baseline."""

import os
import sys

MODEL_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [MODEL_DIR, os.path.dirname(MODEL_DIR)]  # the model's core module, the repository's sample_model

from digits_core import DigitsModel  # noqa: E402


class TritonPythonModel(DigitsModel):
    pass
