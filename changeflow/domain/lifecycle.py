"""The change lifecycle as a state machine that refuses illegal transitions.

``requested → assessed → approved → scheduled → executing → verifying → closed``, with the exits
``rejected`` (refused by policy or an approver), ``expired`` (no decision or no window in time),
``aborted`` (stopped before production was touched) and ``rolled_back`` (production restored and
verified). Emergency changes pass through ``review_pending`` until their post-implementation review.
"""

from __future__ import annotations

from changeflow.domain.types import State
from changeflow.exceptions import IllegalTransition

TRANSITIONS: dict[State, frozenset[State]] = {
    State.REQUESTED: frozenset({State.ASSESSED, State.REJECTED}),
    State.ASSESSED: frozenset({State.APPROVED, State.REJECTED, State.EXPIRED}),
    State.APPROVED: frozenset({State.SCHEDULED, State.EXPIRED, State.ABORTED}),
    State.SCHEDULED: frozenset({State.EXECUTING, State.EXPIRED, State.ABORTED}),
    State.EXECUTING: frozenset({State.VERIFYING, State.ABORTED, State.ROLLED_BACK}),
    State.VERIFYING: frozenset({State.CLOSED, State.REVIEW_PENDING, State.ROLLED_BACK}),
    State.REVIEW_PENDING: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
    State.REJECTED: frozenset(),
    State.EXPIRED: frozenset(),
    State.ABORTED: frozenset(),
    State.ROLLED_BACK: frozenset(),
}

TERMINAL: frozenset[State] = frozenset(s for s, nexts in TRANSITIONS.items() if not nexts)

# States in which production may differ from the last approved state: a crash here needs compensation.
PRODUCTION_AT_RISK: frozenset[State] = frozenset({State.EXECUTING, State.VERIFYING})


def closing_state(needs_review: bool) -> State:
    """Where a change that passed verification goes: closed, or review pending (emergencies)."""
    return State.REVIEW_PENDING if needs_review else State.CLOSED


def can_transition(current: State, target: State) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: State, target: State) -> None:
    """Raise ``IllegalTransition`` naming the allowed next states when ``target`` is not one."""
    if not can_transition(current, target):
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (terminal state)"
        raise IllegalTransition(f"cannot go from '{current}' to '{target}'; allowed from '{current}': {allowed}")
