"""sentiment v1: the baseline."""

import os
import sys

MODEL_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [MODEL_DIR, os.path.dirname(MODEL_DIR)]  # the model's core module, the repository's sample_model

from sentiment_core import SentimentModel  # noqa: E402


class TritonPythonModel(SentimentModel):
    pass
