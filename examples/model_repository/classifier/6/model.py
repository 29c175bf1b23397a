"""classifier v6: v2's answers, but fails 2 % of requests once warm; a comparison with the old version must catch it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from classifier_core import LinearClassifier  # noqa: E402


class TritonPythonModel(LinearClassifier):
    WEIGHTS = "retrained"
    MISBEHAVIOUR = "erratic"
