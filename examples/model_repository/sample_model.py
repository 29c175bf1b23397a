"""What the sample models other than ``classifier`` share: a Triton Python-backend model that maps named
input arrays to named output arrays, and the misbehaviour of each model's version 4.

A model subclasses ``SampleModel`` and defines ``predict(inputs) -> outputs`` (dicts of numpy arrays by
tensor name, batch dimension included when the model batches). With ``FLAKY = True`` (version 4), once
warm (after ``flaky_healthy_requests``, default 50, so a golden set in staging and a smoke test pass) it
fails a share of requests (``flaky_failure_share``, default 0.1) as per-response errors (``flaky_failure_mode:
response``, invisible to Triton's failure counter) or exceptions (``raise``), and may add latency
(``flaky_extra_latency_ms``); the knobs are parameters of the model's config.pbtxt.

Lives at the repository root as a plain file: Triton only treats folders as models.
"""

import json
import time


def parameter(model_config, key, default):
    value = model_config.get("parameters", {}).get(key, {}).get("string_value")
    return default if value in (None, "") else value


class SampleModel:
    FLAKY = False

    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.name, self.version = config.get("name", "model"), args.get("model_version", "?")
        self.requests = 0
        share = float(parameter(config, "flaky_failure_share", "0.1")) if self.FLAKY else 0.0
        self.fail_every = round(1.0 / share) if share > 0 else 0
        self.healthy = int(parameter(config, "flaky_healthy_requests", "50"))
        self.failure_mode = parameter(config, "flaky_failure_mode", "response")
        self.extra_latency_s = float(parameter(config, "flaky_extra_latency_ms", "0")) / 1000.0 if self.FLAKY else 0.0

    def predict(self, inputs):
        raise NotImplementedError

    def execute(self, requests):
        import triton_python_backend_utils as pb_utils

        if self.extra_latency_s:
            time.sleep(self.extra_latency_s)
        responses = []
        for request in requests:
            self.requests += 1
            if self.fail_every and self.requests > self.healthy and self.requests % self.fail_every == 0:
                message = f"{self.name} v{self.version}: injected failure on request {self.requests}"
                if self.failure_mode == "raise":
                    raise pb_utils.TritonModelException(message)
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message)))
                continue
            outputs = self.predict({tensor.name(): tensor.as_numpy() for tensor in request.inputs()})
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(n, a) for n, a in outputs.items()]))
        return responses
