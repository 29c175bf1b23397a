"""An emergency's post-implementation review is a signed decision recorded by the executor (#23): after
`changeflow submit` took an emergency change to review_pending, `changeflow review` signs the review with
the reviewer's key and creates a run of post-implementation-review/review, which the worker judges by its
own sealed governance. The requester's review and a review signed with another key are refused and noted
on the record; the emergency approver's own signed review closes it, its proof kept; the versions the
worker wrote still verify."""

import json

import pytest

from tests.e2e.test_cli import run
from tests.e2e.test_submit_and_approve import REQUEST, environment_file, submit_and_decide  # noqa: F401  (environment_file: a fixture)

pytestmark = pytest.mark.triton

EMERGENCY = {
    **REQUEST,
    "id": "CHG-0701",
    "type": "emergency",
    "requester": "alice",
    "description": "Hotfix: lower feature_scaler's batching delay after a latency incident.",
    "change": {"kind": "config_change", "set": {"dynamic_batching.max_queue_delay_microseconds": 150}},
    "communication": {"on_call_ack": "olivia"},
}
SUMMARY = "Delay lowered at 22:00, p99 recovered within a minute. Follow-up: alert on queue time."


def refusal(result) -> str:
    """The one line a refused review prints (exit 3), without its label."""
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("refused: ")]
    assert result.returncode == 3 and len(lines) == 1 and "Traceback" not in result.stderr, (
        result.returncode,
        result.stderr[-2000:],
    )
    return lines[0].removeprefix("refused: ")


def test_an_emergency_is_closed_only_by_a_signed_review_of_an_emergency_approver_who_did_not_request_it(
    tmp_path, environment_file, cli_env, change_worker
):  # noqa: F811
    submitted = submit_and_decide(tmp_path, environment_file, cli_env, EMERGENCY, [("oscar", True)])
    assert (
        submitted.returncode == 0 and json.loads(submitted.stdout.strip().splitlines()[-1])["state"] == "review_pending"
    ), submitted.stderr[-2000:]

    by_requester = run("review", "CHG-0701", "--reviewer", "alice", "--summary", SUMMARY, env=cli_env)
    assert refusal(by_requester).startswith(
        "review of CHG-0701 by alice: alice requested this change and cannot review it"
    )
    keys = cli_env["CHANGEFLOW_KEYS"]
    other_key = run(
        "review", "CHG-0701", "--reviewer", "oscar", "--summary", SUMMARY, "--key", f"{keys}/carol.pem", env=cli_env
    )
    assert (
        refusal(other_key)
        == "review of CHG-0701 by oscar: the signature is not oscar's over this change, reviewer, summary and plan"
    )
    assert json.loads(run("record", "CHG-0701", "--json", env=cli_env).stdout)["state"] == "review_pending"

    reviewed = run("review", "CHG-0701", "--reviewer", "oscar", "--summary", SUMMARY, env=cli_env)
    assert (
        reviewed.returncode == 0 and "CHG-0701 closed with the review by oscar, signed with key " in reviewed.stdout
    ), reviewed.stderr[-2000:]

    record = json.loads(run("record", "CHG-0701", "--json", env=cli_env).stdout)
    assert record["state"] == "closed" and record["review"] == f"oscar: {SUMMARY}"
    assert [(r["reviewer"], r["counted"]) for r in record["reviews"]] == [
        ("alice", False),
        ("oscar", False),
        ("oscar", True),
    ]
    kept = record["reviews"][-1]
    assert kept["signature"] and kept["key_id"] and kept["plan_digest"] == record["attachments"]["plan_digest"]
    assert record["reviews"][0]["refusal"].startswith("alice requested this change")
    for extra in (
        [],
        ["--reviews"],
    ):  # every version signed by the executor; the kept review re-verified against the bundle's keys
        verified = run("audit", "verify", "CHG-0701", *extra, env=cli_env)
        assert verified.returncode == 0 and "\nintact: 1 record(s)" in "\n" + verified.stdout, (
            verified.stdout + verified.stderr
        )  # after the checkpoint line, if any
