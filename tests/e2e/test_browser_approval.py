"""Approvals in the Prefect UI, in a real browser: a normal change is triggered from its deployment,
two CAB members open the paused run, fill the approval form and submit it; the change executes and its
record shows both approvals. Headless Debian Chromium driven by playwright (no browser download)."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.triton, pytest.mark.browser, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parents[2]
REQUEST = {
    "id": "CHG-0701",
    "type": "normal",
    "description": "Raise feature_scaler's batching delay, approved in the Prefect UI.",
    "requester": "alice",
    "model": "feature_scaler",  # on the Tritons `changeflow serve` started
    "change": {"kind": "config_change", "set": {"dynamic_batching.max_queue_delay_microseconds": 400}},
    "rollback_plan": "Write back the previous config.pbtxt and reload feature_scaler.",
    "communication": {"announced_in": "#inference-changes", "on_call_ack": "olivia"},
}


@pytest.fixture
def served_deployments(prefect_api, tmp_path):
    """`changeflow serve` as a user runs it, from a folder of their own: Tritons, deployments on a process
    work pool, a worker."""
    import signal

    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "CHANGEFLOW_CLOCK": "normal=2026-11-25T22:00:00+01:00",
    }  # the worker's clock, for the test only; never a run parameter
    env.pop("CHANGEFLOW_RECORDS_URL", None)  # the records go to the default: .changeflow/records.db in tmp_path
    log_path = tmp_path / "serve.log"
    log = open(log_path, "w")
    served = subprocess.Popen(
        [sys.executable, "-m", "changeflow.local.serve"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while "ready." not in log_path.read_text():
        assert served.poll() is None and time.monotonic() < deadline, log_path.read_text()[-2000:]
        time.sleep(0.5)
    yield prefect_api
    os.killpg(served.pid, signal.SIGINT)
    try:
        served.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(served.pid, signal.SIGKILL)
    log.close()


def approve_in_ui(page, ui, run_id, approver, code, comment, screenshot=None):
    page.goto(f"{ui}/runs/flow-run/{run_id}")
    page.get_by_role("button", name="Resume").first.click(timeout=60_000)
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Approve change CHG-0701?").wait_for(timeout=30_000)
    switch = dialog.get_by_role("switch").first
    if switch.get_attribute("aria-checked") != "true":
        switch.click()
    boxes = dialog.locator("textarea")  # approver, one-time code, comment, plan digest (shown), signature (CLI only)
    boxes.nth(0).fill(approver)
    boxes.nth(1).fill(code)
    boxes.nth(2).fill(comment)
    if screenshot:
        page.screenshot(path=str(screenshot), full_page=True)
    dialog.get_by_role("button", name="Submit").click()


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it when apt-get can)"
)
def test_two_cab_members_approve_in_the_prefect_ui(served_deployments, tmp_path):
    from playwright.sync_api import sync_playwright
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from changeflow.adapters.credentials import current_code
    from changeflow.adapters.prefect_approvals import wait_for_pause
    from changeflow.adapters.sql_records import SqlRecordStore
    from changeflow.settings.defaults import approver_secrets

    api = served_deployments
    ui = api.removesuffix("/api")
    with temporary_settings(updates={PREFECT_API_URL: api}):
        run = run_deployment("normal-change/normal", parameters={"request": REQUEST}, timeout=0)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--no-first-run",
                ],
            )
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            secrets = yaml.safe_load(approver_secrets().read_text())
            wrong = lambda who: "000000" if current_code(secrets[who]) != "000000" else "111111"  # noqa: E731
            # the form as carol saw it, beside the test's files (docs/approval-form.png is refreshed from it by hand:
            # a test run must not rewrite a tracked file)
            attempts = [
                ("carol", lambda: current_code(secrets["carol"]), tmp_path / "approval-form.png"),
                ("dave", lambda: wrong("dave"), None),  # a wrong code: refused, recorded, the run pauses again
                ("dave", lambda: current_code(secrets["dave"]), None),
            ]
            for approver, code, shot in attempts:
                run_id = wait_for_pause("CHG-0701", timeout_s=240, poll_s=0.5)  # the worker starts the run
                assert run_id == run.id
                approve_in_ui(page, ui, run_id, approver, code(), f"{approver}: approved in the UI", screenshot=shot)
                time.sleep(2)
            browser.close()
        deadline = time.monotonic() + 180
        record = None
        while time.monotonic() < deadline:
            try:
                record = SqlRecordStore(f"sqlite:///{tmp_path / '.changeflow' / 'records.db'}").load("CHG-0701")
                if record.is_terminal:
                    break
            except Exception:
                pass
            time.sleep(1)
    assert record is not None and record.state.value == "closed", record and record.outcome
    assert [(a.approver, a.counted, a.proof) for a in record.approvals] == [
        ("carol", True, "totp"),
        ("dave", False, ""),
        ("dave", True, "totp"),
    ]
    assert "not dave's current code" in record.approvals[1].refusal
