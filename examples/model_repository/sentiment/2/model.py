"""sentiment v2: a good update: the same scoring in float64."""

import os
import sys

MODEL_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [MODEL_DIR, os.path.dirname(MODEL_DIR)]  # the model's core module, the repository's sample_model

import numpy as np  # noqa: E402
from sentiment_core import SentimentModel  # noqa: E402


class TritonPythonModel(SentimentModel):
    DTYPE = np.float64
