"""A small deterministic text generator, served by Triton's Python backend as a decoupled (streaming) model.

What an LLM served by Triton looks like to a client, without a GPU or weights: one request (a BYTES
``PROMPT``, an optional INT32 ``MAX_TOKENS``) streams one BYTES ``TOKEN`` per response, then a flags-only
response with ``TRITONSERVER_RESPONSE_COMPLETE_FINAL``, so a client that asks for the empty final response
always sees a stream's end. A stream that breaks ends with an error response carrying the final flag.

The model is a bigram table over the public-domain text its version folder ships (``<version>/text.txt``).
It is deterministic: the next word is drawn from the bigram counts with a random state seeded by the
prompt's bytes, so one prompt gives the same tokens on every version that ships the same words.

Timing stands in for an accelerator (slept, not computed: the CPU is free while a GPU would work):
``prefill_ms`` before the first token, ``token_pacing_ms`` before every token, so time to first response
and the gaps between responses are measurable. Streams run on a small pool of threads (``max_streams``), so
one long stream does not hold back the first token of the next, as in a server that batches in flight.

Versions (the misbehaviour is a class attribute of ``<version>/model.py``, its knobs are config parameters):

- v1 ``baseline``.
- v2 a good update: the same words re-exported (other line breaks), so the same tokens for every prompt.
- v3 another text: clearly different tokens (a golden set in staging catches it).
- v4 ``flaky``: once warm (after ``flaky_healthy_requests``, default 20, so staging and a smoke test pass)
  breaks ``flaky_failure_share`` (default 0.3) of streams, spread evenly by a request counter, after
  ``flaky_tokens_before_failure`` (default 3) tokens: only watching the streams in production catches it.
- v5 ``slow_first``: v2's tokens, but the first one is held back ``slow_first_share`` (default 0.4) times the
  time this request took to make it: +40 % to the service time of the first response, following the load (a
  busy machine makes the first token slower, and the delay with it) rather than a constant.

numpy is the only dependency; ``triton_python_backend_utils`` is imported lazily so that tests can import
the generator outside Triton.
"""

import json
import math
import os
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

PROMPT, MAX_TOKENS, TOKEN = "PROMPT", "MAX_TOKENS", "TOKEN"
TOKEN_LIMIT = 256  # a request asking for more is refused: a stream must end
PUNCTUATION = ".,;:!?-'\"()"


def parameter(model_config, key, default):
    value = model_config.get("parameters", {}).get(key, {}).get("string_value")
    return default if value in (None, "") else value


def word_key(word):
    return word.lower().strip(PUNCTUATION)


class Bigrams:
    """Which words follow which in a text, with their counts; generates words from a prompt."""

    def __init__(self, text):
        self.words = text.split()
        if len(self.words) < 2:
            raise ValueError("the text needs at least two words")
        counts = {}
        for word, following in zip(self.words, self.words[1:]):
            followers = counts.setdefault(word_key(word), {})
            followers[following] = followers.get(following, 0) + 1
        self.table = {
            key: (list(followers), np.array(list(followers.values()), dtype=np.float64) / sum(followers.values()))
            for key, followers in counts.items()
        }
        self.restart = word_key(self.words[0])  # where a word with no follower (the text's last) goes on

    def generate(self, prompt, count):
        """``count`` words that follow ``prompt`` (bytes): the same prompt, the same words."""
        rng = np.random.RandomState(zlib.crc32(prompt))
        said = prompt.decode("utf-8", "replace").split()
        current = word_key(said[-1]) if said else ""
        if current not in self.table:
            current = word_key(self.words[rng.randint(len(self.words) - 1)])
        for _ in range(count):
            words, chances = self.table.get(current) or self.table[self.restart]
            word = words[rng.choice(len(words), p=chances)]
            yield word
            current = word_key(word)


class StreamingGenerator:
    MISBEHAVIOUR = None  # "flaky" (v4) or "slow_first" (v5)

    def initialize(self, args):
        import triton_python_backend_utils as pb_utils

        config = json.loads(args["model_config"])
        self.name, self.version = config.get("name", "generator"), args["model_version"]
        if not pb_utils.using_decoupled_model_transaction_policy(config):
            raise pb_utils.TritonModelException(
                f"{self.name}: streams its tokens; its config must say model_transaction_policy {{ decoupled: true }}"
            )
        with open(os.path.join(args["model_repository"], self.version, "text.txt"), encoding="utf-8") as text:
            self.bigrams = Bigrams(text.read())

        def number(key, default):
            return float(parameter(config, key, default))

        self.prefill_s = number("prefill_ms", "12") / 1000.0
        self.pacing_s = number("token_pacing_ms", "4") / 1000.0
        self.default_tokens = int(number("max_tokens", "16"))
        flaky, slow = self.MISBEHAVIOUR == "flaky", self.MISBEHAVIOUR == "slow_first"
        self.failure_share = number("flaky_failure_share", "0.3") if flaky else 0.0
        self.healthy = int(number("flaky_healthy_requests", "20"))
        self.tokens_before_failure = int(number("flaky_tokens_before_failure", "3"))
        self.slow_share = number("slow_first_share", "0.4") if slow else 0.0
        self.requests = 0
        self.pool = ThreadPoolExecutor(max_workers=int(number("max_streams", "8")))

    def execute(self, requests):
        import triton_python_backend_utils as pb_utils

        for request in requests:
            self.requests += 1
            sender = request.get_response_sender()
            try:
                prompt, count = self._read(request, pb_utils)
            except ValueError as exc:
                self._fail(pb_utils, sender, str(exc))
                continue
            self.pool.submit(self._stream, pb_utils, request, sender, prompt, count, self._breaks_after(self.requests))
        return None

    def finalize(self):
        self.pool.shutdown(wait=True)  # streams in flight end before the version unloads

    def _read(self, request, pb_utils):
        prompt = pb_utils.get_input_tensor_by_name(request, PROMPT)
        if prompt is None or prompt.as_numpy().size != 1:
            raise ValueError(f"{PROMPT}: one BYTES prompt expected")
        limit = pb_utils.get_input_tensor_by_name(request, MAX_TOKENS)
        count = self.default_tokens if limit is None else int(limit.as_numpy().reshape(-1)[0])
        if not 0 < count <= TOKEN_LIMIT:
            raise ValueError(f"{MAX_TOKENS}: {count} is not within 1..{TOKEN_LIMIT}")
        value = prompt.as_numpy().reshape(-1)[0]
        return (value if isinstance(value, bytes) else str(value).encode("utf-8")), count

    def _breaks_after(self, request_number):
        """Tokens this request streams before it breaks (v4 once warm, evenly spread), or None."""
        n = request_number - self.healthy
        if self.failure_share <= 0 or n <= 0:
            return None
        breaks = math.floor(n * self.failure_share + 1e-9) > math.floor((n - 1) * self.failure_share + 1e-9)
        return self.tokens_before_failure if breaks else None

    def _stream(self, pb_utils, request, sender, prompt, count, breaks_after):
        try:
            started = time.perf_counter()
            time.sleep(self.prefill_s)
            for index, word in enumerate(self.bigrams.generate(prompt, count)):
                time.sleep(self.pacing_s)
                if request.is_cancelled():  # the client went away (its deadline passed): stop generating
                    break
                if index == 0 and self.slow_share:
                    time.sleep(self.slow_share * (time.perf_counter() - started))
                if index == breaks_after:
                    raise RuntimeError(f"stream broken after {index} tokens (injected)")
                token = np.array([(word if index == 0 else " " + word).encode("utf-8")], dtype=np.object_)
                sender.send(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(TOKEN, token)]))
            sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        except Exception as exc:  # a stream must end: an error response carries the final flag
            self._fail(pb_utils, sender, str(exc))

    def _fail(self, pb_utils, sender, message):
        error = pb_utils.TritonError(f"{self.name} v{self.version}: {message}")
        try:
            sender.send(
                pb_utils.InferenceResponse(output_tensors=[], error=error),
                flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL,
            )
        except Exception:  # the request is gone (cancelled, or its final response already sent)
            pass
