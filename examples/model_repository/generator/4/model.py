"""generator v4: v2's text, but once warm it breaks a share of its streams mid-way (an error response after a few tokens)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from generator_core import StreamingGenerator  # noqa: E402


class TritonPythonModel(StreamingGenerator):
    MISBEHAVIOUR = "flaky"
