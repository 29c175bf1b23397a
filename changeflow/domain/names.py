"""How names of people are compared: ``person(name)`` folds a name with Unicode NFKC and case-folding, so
``Carol``, ``CAROL`` and full-width ``Ｃａｒｏｌ`` are one person. The lowest rule the approval rules
(``policy``), proofs of identity (``identity``) and reviews build on."""

from __future__ import annotations

import unicodedata


def person(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold().strip()
