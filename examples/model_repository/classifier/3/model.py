"""classifier v3: wrong outputs (classes swapped); golden-set validation must stop it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from classifier_core import LinearClassifier  # noqa: E402


class TritonPythonModel(LinearClassifier):
    WEIGHTS = "swapped"
    FLAKY = False
