"""The post-implementation review of an emergency change, judged and recorded by the executor.

``changeflow review ID --reviewer NAME --summary TEXT`` signs the review with the reviewer's private key
(``identity.review_message``) and creates a run of the ``post-implementation-review/review`` deployment
carrying the change ID, the reviewer, the summary and the signature, nothing else. The worker reads the
record only when its versions verify, judges the review against its own sealed governance (an emergency
approver who is not the requester, a signature by their key in the bundle: ``domain.review``), and either
closes the record with the review and its proof, or notes the refused attempt on the record and ends the
run Failed with the reason (``ReviewRefused``), which the command line shows.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from changeflow.adapters.prefect import refuse_executor_parameters
from changeflow.bootstrap import record_store
from changeflow.exceptions import ReviewRefused
from changeflow.services.audit import executor_seals
from changeflow.services.reviews import ReviewResult, review_change
from changeflow.settings.defaults import environment_or_default, governance_or_default
from changeflow.settings.environment import Environment
from changeflow.settings.governance import Governance


@flow(name="post-implementation-review")
def post_implementation_review(
    change_id: str,
    reviewer: str,
    summary: str,
    signature: str,
    environment: Environment | None = None,
    governance: Governance | None = None,
) -> ReviewResult:
    """Close an emergency change in ``review_pending`` with a review signed by an emergency approver who is
    not its requester; a refused review is noted on the record and the run fails with the reason."""
    refuse_executor_parameters(environment=environment, governance=governance)
    environment, governance = environment_or_default(environment), governance_or_default(governance)
    store = record_store(environment.records)
    result = review_change(store, change_id, reviewer, summary, signature, governance, executor_seals(governance))
    logger = get_run_logger()
    if not result.accepted:
        logger.warning("%s: review by %s refused: %s", change_id, result.reviewer, result.reason)
        raise ReviewRefused(result.reason)
    logger.info("%s: %s; %s", change_id, result.reason, result.state.value)
    return result
