"""feature_scaler v1: multiplies its input by the ``scale`` config parameter.

The target of the sample *config changes*: its behaviour, batching and instance count all live in
``config.pbtxt``, so a config change is visible in its outputs and a revert is checkable.
"""

import json

import numpy as np


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self._scale = np.float32(config.get("parameters", {}).get("scale", {}).get("string_value", "1.0"))

    def execute(self, requests):
        import triton_python_backend_utils as pb_utils

        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[pb_utils.Tensor("OUTPUT", (x * self._scale).astype(np.float32))]
                )
            )
        return responses
