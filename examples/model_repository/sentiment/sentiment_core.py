"""A lexicon sentiment classifier over short English texts (the lexicon is below; no download).

TEXT BYTES [1] in (UTF-8), batched; LABEL BYTES [1] (positive / negative / neutral) and SCORE FP32 [1] out.
- v1: the baseline, scored in float32;  v2: the same scoring in float64 (a good update);
- v3: wrong outputs: labels inverted;  v4: v2's answers, but fails a share of requests once warm.
"""

import re

import numpy as np
from sample_model import SampleModel

POSITIVE = {
    "good",
    "great",
    "excellent",
    "love",
    "loved",
    "fast",
    "helpful",
    "friendly",
    "happy",
    "perfect",
    "recommend",
    "works",
    "easy",
    "clean",
}
NEGATIVE = {
    "bad",
    "terrible",
    "awful",
    "hate",
    "hated",
    "slow",
    "broken",
    "rude",
    "unhappy",
    "refund",
    "crashes",
    "late",
    "dirty",
    "never",
}


def score(text, dtype=np.float32):
    words = re.findall(r"[a-z']+", text.lower())
    balance = sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
    return dtype(balance) / dtype(max(1, len(words))) * dtype(3.0)


def classify(texts, dtype=np.float32, invert=False):
    scores = np.array(
        [[score(t.decode("utf-8") if isinstance(t, bytes) else str(t), dtype)] for t in texts.reshape(-1)],
        dtype=np.float32,
    )
    labels = np.where(scores > 0.15, "positive", np.where(scores < -0.15, "negative", "neutral"))
    if invert:
        labels = np.where(labels == "positive", "negative", np.where(labels == "negative", "positive", labels))
    return {"LABEL": np.array([[label.encode("utf-8")] for label in labels.reshape(-1)], dtype=object), "SCORE": scores}


class SentimentModel(SampleModel):
    DTYPE = np.float32
    INVERT = False

    def predict(self, inputs):
        return classify(inputs["TEXT"], self.DTYPE, self.INVERT)
