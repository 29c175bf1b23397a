"""What the sample models share: a Triton Python-backend model that maps named input arrays to named
output arrays, and the misbehaviour of their bad versions.

A model subclasses ``SampleModel`` and defines ``predict(inputs) -> outputs`` (dicts of numpy arrays by
tensor name, batch dimension included when the model batches). A version that misbehaves names its
``MISBEHAVIOUR``, whose knobs are parameters of the model's config.pbtxt prefixed with that name:

- ``flaky`` (``FLAKY = True``, the v4s): once warm (after ``flaky_healthy_requests``, default 50, so a
  golden set in staging and a smoke test pass) fails ``flaky_failure_share`` (default 0.1) of requests;
- ``slow`` (classifier v5): right answers, more compute per request: a fixed amount of work that takes
  ``slow_extra_latency_ms`` (default 2.0) on an idle core here (``WORK_PER_MS``). Work, not a deadline: on a busy machine it
  stretches as the rest of the answer does, so the slowdown stays a share of the answer, as a heavier
  model's would (a wall-clock spin shrank to +10-28 % of a loaded answer where it was +40 % of an idle one);
- ``erratic`` (classifier v6): fails ``erratic_failure_share`` (default 0.02) of requests once warm.

Failures are per-response errors (``<name>_failure_mode: response``, invisible to Triton's failure
counter) or exceptions (``raise``); ``<name>_extra_latency_ms`` adds latency to any of them.

Lives at the repository root as a plain file: Triton only treats folders as models.
"""

import json


def parameter(model_config, key, default):
    value = model_config.get("parameters", {}).get(key, {}).get("string_value")
    return default if value in (None, "") else value


DEFAULTS = {  # misbehaviour -> (failure share, extra latency ms)
    "flaky": ("0.1", "0"),
    "slow": ("0", "2.0"),
    "erratic": ("0.02", "0"),
}


def work(steps: int) -> int:
    """A fixed amount of CPU work: ``steps`` loop turns."""
    total = 0
    for step in range(steps):
        total += step
    return total


# Loop turns per millisecond on an idle core of the machines here (measured: 16,600). A constant, not a
# calibration at load time: a version loaded while the machine is busy (every bake loads it under client
# load) measured half of it and came out half as slow.
WORK_PER_MS = 16_000


class SampleModel:
    FLAKY = False
    MISBEHAVIOUR = None

    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.name, self.version = config.get("name", "model"), args.get("model_version", "?")
        self.requests = 0
        kind = self.MISBEHAVIOUR or ("flaky" if self.FLAKY else None)
        share, latency = DEFAULTS.get(kind, ("0", "0"))
        share = float(parameter(config, f"{kind}_failure_share", share)) if kind else 0.0
        self.fail_every = round(1.0 / share) if share > 0 else 0
        self.healthy = int(parameter(config, f"{kind}_healthy_requests", "50"))
        self.failure_mode = parameter(config, f"{kind}_failure_mode", "response")
        extra_ms = float(parameter(config, f"{kind}_extra_latency_ms", latency)) if kind else 0.0
        self.extra_work = round(extra_ms * WORK_PER_MS) if extra_ms > 0 else 0

    def predict(self, inputs):
        raise NotImplementedError

    def execute(self, requests):
        import triton_python_backend_utils as pb_utils

        if self.extra_work:  # computed, not slept: a slower model burns CPU, and a sleep's wake-up adds ~0.5 ms.
            work(self.extra_work * len(requests))  # per request, as a heavier model's compute grows with its batch
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
            responses.append(
                pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(n, a) for n, a in outputs.items()])
            )
        return responses
