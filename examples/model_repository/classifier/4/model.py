"""classifier v4: passes the golden set but fails a share of live requests; monitoring must catch it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from classifier_core import LinearClassifier  # noqa: E402


class TritonPythonModel(LinearClassifier):
    WEIGHTS = "retrained"
    FLAKY = True
