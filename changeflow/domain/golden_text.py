"""Text rules of a golden set: a decoupled model's BYTES output (a stream of tokens) judged as the text its
user reads, since greedy decoding is not bit-stable across versions and a retokenized answer can say the
same thing.

``"compare": {"TOKEN": {"text": "exact"}}`` wants the same joined text from as many responses;
``{"text": "prefix", "min_tokens": N}`` the first N responses identical (a shared token prefix of at least
N; the tail may differ, run longer or stop after N); ``{"text": "similar", "min_similarity": X}`` a
similarity of at least X, whatever the number of responses. The similarity is rapidfuzz's normalized
Levenshtein similarity (``rapidfuzz.distance.Levenshtein.normalized_similarity``: 1 - edits / length of
the longer text, in characters), so a substituted character costs one edit. The joined text is every response's bytes in order, decoded as UTF-8
after joining (a character may be split across tokens). Where a rule may be used (a BYTES output of a
decoupled model) is ``golden``'s to check; here only how its keys go together.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from rapidfuzz.distance import Levenshtein

__all__ = ["TextMode", "joined_bytes", "joined_text", "similarity", "text_rule_problem"]


class TextMode(StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"
    SIMILAR = "similar"


def text_rule_problem(
    mode: TextMode | None, min_tokens: int | None, min_similarity: float | None, compare_given: bool
) -> str | None:
    """What is wrong with one output's rule as written (with the fix), or None: each text mode takes its
    own figure and no other, and a text rule replaces compare / rtol / atol rather than joining them."""
    if mode is None:
        if min_tokens is not None or min_similarity is not None:
            return (
                "min_tokens and min_similarity belong to a text rule: add text: prefix or text: similar, or drop them"
            )
        return None
    if compare_given:
        return f"text: {mode} judges the joined text, so compare / rtol / atol do not apply: drop them"
    if (mode is TextMode.PREFIX) != (min_tokens is not None):
        return 'text: prefix takes min_tokens (how many leading responses must match) and no other rule does: write {"text": "prefix", "min_tokens": 8}'
    if (mode is TextMode.SIMILAR) != (min_similarity is not None):
        return 'text: similar takes min_similarity (0 < X <= 1) and no other rule does: write {"text": "similar", "min_similarity": 0.9}'
    return None


def joined_bytes(stream: np.ndarray) -> bytes:
    """Every element of a stacked stream (responses on the leading axis), in order, joined."""
    return b"".join(
        item if isinstance(item, bytes) else str(item).encode("utf-8") for item in stream.reshape(-1).tolist()
    )


def joined_text(stream: np.ndarray) -> str:
    return joined_bytes(stream).decode("utf-8", errors="replace")


def similarity(got: str, want: str) -> float:
    """1.0 for the same text, 0.0 for nothing in common (two empty texts are the same)."""
    return float(Levenshtein.normalized_similarity(got, want))
