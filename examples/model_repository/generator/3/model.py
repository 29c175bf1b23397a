"""generator v3: another text (Moby-Dick's opening): clearly different tokens; a golden set in staging must catch it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from generator_core import StreamingGenerator  # noqa: E402


class TritonPythonModel(StreamingGenerator):
    MISBEHAVIOUR = None
