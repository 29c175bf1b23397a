"""The Prefect UI as engineers and approvers meet it, in a real browser, on `changeflow serve` as a user
runs it (its own Prefect server on a private PostgreSQL, behind a credential the UI asks for): an engineer fills the
normal-change deployment's Run form with clicks and typing (counted) and submits; two CAB members decide in
the paused run's form, one with a wrong code whose refusal the next form shows at the top; the change
closes. A second change is rejected explicitly and its run is not a green Completed. Headless Debian
Chromium driven by playwright (no browser download); screenshots to CHANGEFLOW_SCREENSHOTS (docs/ to
refresh the docs' own) or the test's folder."""

import os
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.serving import serving_as_a_user, wait_until_ended

pytestmark = [pytest.mark.triton, pytest.mark.prefect, pytest.mark.browser, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parents[2]
SHOTS = os.environ.get("CHANGEFLOW_SCREENSHOTS")  # a folder for the screenshots (docs/ to refresh the docs' own)
FORM = [  # (field label, what the engineer types): a normal model deployment on the served classifier
    ("Change ID", "CHG-0701"),
    ("What changes and why", "Deploy classifier v2, retrained; started from the Run form."),
    ("Requested by", "alice"),
    ("Model", "classifier"),
    ("New version", "2"),
    ("Golden set", "golden/classifier.json"),  # the governance folder's
    ("Bake (seconds)", "5"),
    ("Rollback plan", "Reload classifier v1, which stays warm through the bake."),
    ("Announced in", "#inference-changes"),  # the pre-change checklist asks who was told
    ("On-call acknowledged by", "olivia"),
]


@pytest.fixture
def served(tmp_path):
    with serving_as_a_user(tmp_path) as served:
        yield served


def log_in(page, ui: str, auth: str) -> None:
    """The UI of a server behind a credential asks for it once (Prefect's login page)."""
    page.goto(f"{ui}/deployments")
    box = page.get_by_placeholder("admin:pass")
    box.wait_for(timeout=60_000)
    box.fill(auth)
    page.get_by_role("button", name="Login").click()
    page.get_by_text("normal-change").first.wait_for(timeout=60_000)


def shot(page, name: str, tmp_path: Path) -> None:
    page.screenshot(path=str(Path(SHOTS or tmp_path) / name), full_page=True)


def field(page, label: str):
    """The input of the form field titled ``label`` (Prefect's schema form: a label, then its input)."""
    return prop(page, label).locator("textarea, input").first


def prop(scope, label: str):
    """The form property titled ``label`` in ``scope`` (the page, or the resume dialog)."""
    root = scope if not hasattr(scope, "page") else scope.page  # a has= locator is built from the page
    titled = root.locator(".schema-form-property__label", has_text=re.compile(rf"^{re.escape(label)}( \(Optional\))?$"))
    return scope.locator(".schema-form-property").filter(has=titled).last


def fill_run_form(page, ui: str, deployment_id: str, tmp_path: Path) -> dict:
    """The engineer's way: open the deployment's Run form, click each field and type, Submit. Counted."""
    started, clicks, typed = time.monotonic(), 0, 0
    page.goto(f"{ui}/deployments/deployment/{deployment_id}/run")
    page.get_by_text("The change", exact=True).first.wait_for(timeout=60_000)
    for tab in ("Change a model's config", "Deploy a model version"):  # switching kinds with the mouse works
        page.get_by_role("button", name=tab).click()
        clicks += 1
    assert page.get_by_text("New version", exact=True).count() == 1
    for label, text in FORM:
        box = field(page, label)
        box.click()
        box.fill(text)
        clicks, typed = clicks + 1, typed + len(text)
    shot(page, "run-form.png", tmp_path)
    page.get_by_role("button", name="Submit").click()
    clicks += 1
    page.wait_for_url(re.compile(r".*/deployments/deployment/.*\?tab=Runs|.*/runs/flow-run/.*"), timeout=60_000)
    return {"seconds": round(time.monotonic() - started, 1), "clicks": clicks, "characters": typed}


def decide_in_ui(page, ui, run_id, change_id, choice, approver, code, tmp_path, name=None) -> str:
    """An approver's way: the paused run, Resume, choose, type name and the code their authenticator
    shows as they type it (``code()``: a slow page must not make it stale), Submit, and the dialog
    closes. Returns the text above the form (where a refusal of the last decision is shown first)."""
    page.goto(f"{ui}/runs/flow-run/{run_id}")
    page.get_by_role("button", name="Resume").first.click(timeout=60_000)
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(change_id).first.wait_for(timeout=30_000)
    summary = dialog.inner_text()
    prop(dialog, "Decision").locator(".p-select-button__icon").click()  # the control's own click does not open it
    options = page.locator(".p-select-option")
    options.first.wait_for(timeout=10_000)
    options.filter(has_text=re.compile(rf"^\s*{choice}\s*$")).first.click()
    field(dialog, "Your name").fill(approver)
    field(dialog, "Comment").fill(f"{approver}: {choice} in the UI")
    field(dialog, "One-time code").fill(code())
    if name:
        shot(page, name, tmp_path)
    dialog.get_by_role("button", name="Submit").click()
    try:
        dialog.wait_for(state="hidden", timeout=30_000)  # sent: the UI closes the form once the run resumes
    except Exception as e:
        raise AssertionError(f"the {change_id} form was not sent: {dialog.inner_text()[-800:]}") from e
    return summary


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it when apt-get can)"
)
def test_an_engineer_submits_the_run_form_approvers_decide_in_it_and_a_refusal_is_shown(served, tmp_path):
    from playwright.sync_api import sync_playwright
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    from changeflow.adapters.credentials import current_code
    from changeflow.adapters.prefect_approvals import wait_for_pause
    from changeflow.adapters.sql_records import SqlRecordStore
    from changeflow.local.postgres import missing_reason
    from changeflow.settings.defaults import approver_secrets

    if missing_reason() is None:  # Prefect's SQLite server lost clicks (`database is locked`) under the bakes
        assert served.database.startswith("a private PostgreSQL"), served.database
    ui = served.api.removesuffix("/api")
    store = lambda: SqlRecordStore(f"sqlite:///{tmp_path / '.changeflow' / 'records.db'}")  # noqa: E731
    secrets = yaml.safe_load(approver_secrets().read_text())
    code = lambda who: lambda: current_code(secrets[who])  # noqa: E731  (read as it is typed)
    wrong = lambda who: lambda: "000000" if code(who)() != "000000" else "111111"  # noqa: E731
    settings = {PREFECT_API_URL: served.api, PREFECT_API_AUTH_STRING: served.auth}
    with temporary_settings(updates=settings), sync_playwright() as p:
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name("normal-change/normal")
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        log_in(page, ui, served.auth)

        counted = fill_run_form(page, ui, str(deployment.id), tmp_path)
        print(
            f"Run form to submitted run: {counted['seconds']} s, {counted['clicks']} clicks, {counted['characters']} characters"
        )
        run_id = wait_for_pause("CHG-0701", timeout_s=240, poll_s=0.5)  # the worker took the form's run
        decide_in_ui(page, ui, run_id, "CHG-0701", "approve", "carol", code("carol"), tmp_path, "approval-form.png")
        wait_for_pause("CHG-0701", timeout_s=60, poll_s=0.5)
        decide_in_ui(page, ui, run_id, "CHG-0701", "approve", "dave", wrong("dave"), tmp_path)  # refused
        wait_for_pause("CHG-0701", timeout_s=60, poll_s=0.5)
        shown = decide_in_ui(
            page, ui, run_id, "CHG-0701", "approve", "dave", code("dave"), tmp_path, "refusal-shown.png"
        )
        assert "Not counted: dave: " in shown and "not dave's current code" in shown.split("Approve change")[0], shown

        second = {**FORM_REQUEST, "id": "CHG-0702", "change": {**FORM_REQUEST["change"], "to_version": 3}}
        with get_client(sync_client=True) as client:  # the sync client: playwright's loop runs in this thread
            rejected = client.create_flow_run_from_deployment(deployment.id, parameters={"request": second})
        decide_in_ui(
            page,
            ui,
            wait_for_pause("CHG-0702", timeout_s=240, poll_s=0.5),
            "CHG-0702",
            "reject",
            "frank",  # carol's code of this 30 s step is spent on CHG-0701: a code counts once
            code("frank"),
            tmp_path,
        )

        record = wait_until_ended(store, "CHG-0701", served.log)
        assert record.state.value == "closed", record.outcome
        assert [(a.approver, a.counted, a.proof) for a in record.approvals] == [
            ("carol", True, "totp"),
            ("dave", False, ""),
            ("dave", True, "totp"),
        ]
        assert wait_until_ended(store, "CHG-0702", served.log).state.value == "rejected"
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(rejected.id).state
        assert state.name == "Rejected" and not state.is_completed(), state
        page.goto(f"{ui}/runs/flow-run/{rejected.id}")
        page.get_by_text("Rejected").first.wait_for(timeout=30_000)  # the runs page shows it, not a green Completed
        shot(page, "rejected-run.png", tmp_path)
        page.goto(f"{ui}/artifacts/key/chg-0701")  # the record's one home, findable by key: one card per run
        page.locator("a[href*='/artifacts/artifact/']").first.click(timeout=30_000)
        page.get_by_text("Done: classifier serves version 2 (was 1).").first.wait_for(timeout=30_000)
        shot(page, "record-artifact.png", tmp_path)
        browser.close()


FORM_REQUEST = {
    "id": "CHG-0701",
    "type": "normal",
    "description": dict(FORM)["What changes and why"],
    "requester": "alice",
    "model": "classifier",
    "change": {"kind": "model_deployment", "to_version": 2, "golden_set": "golden/classifier.json", "bake_seconds": 5},
    "rollback_plan": dict(FORM)["Rollback plan"],
    "communication": {"announced_in": "#inference-changes", "on_call_ack": "olivia"},
}
