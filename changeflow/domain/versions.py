"""Which versions production serves during a promotion.

Triton answers unversioned requests with the highest READY version, so warm standby ([old, new], old
still loaded for a millisecond rollback) only routes traffic to ``new`` when ``new > old``. Going back
to a lower version number has to serve ``new`` alone: its rollback is a cold load.
"""

from __future__ import annotations


def standby_possible(old: int, new: int) -> bool:
    return new > old


def promotion_versions(old: int, new: int) -> list[int]:
    """The version policy to load at promotion."""
    return [old, new] if standby_possible(old, new) else [new]
