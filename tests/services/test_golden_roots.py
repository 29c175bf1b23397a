"""A change's golden set decides how it is judged: it may come only from the governance folder (or a
folder named in CHANGEFLOW_GOLDEN_ROOTS), whatever path the requester writes."""

import pytest

from changeflow.exceptions import InvalidChangeRequest
from changeflow.services.verification import check_request_golden
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES


@pytest.fixture
def request_with(monkeypatch, tmp_path):
    monkeypatch.setenv("CHANGEFLOW_GOVERNANCE", str(EXAMPLES))
    monkeypatch.setenv("CHANGEFLOW_GOLDEN_ROOTS", "")
    base = load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml")

    def make(golden_set: str):
        return base.model_copy(update={"change": base.change.model_copy(update={"golden_set": golden_set})})

    return make


def refusal(request) -> str:
    with pytest.raises(InvalidChangeRequest) as refused:
        check_request_golden(request, None, "request.yaml")
    return str(refused.value)


def test_the_governed_golden_set_is_accepted(request_with):
    assert check_request_golden(
        request_with(str(EXAMPLES / "golden" / "classifier.json")), None, "request.yaml"
    )  # a warning: no server to check


@pytest.mark.parametrize("path", ["/etc/passwd", str(EXAMPLES / "golden" / ".." / ".." / ".." / "etc" / "passwd")])
def test_a_path_outside_the_roots_is_refused_naming_the_field(request_with, path):
    message = refusal(request_with(path))
    assert (
        message.startswith("request.yaml: change.golden_set: ")
        and "is outside the folders golden sets may come from" in message
    )
    assert "CHANGEFLOW_GOLDEN_ROOTS" in message


def test_a_symlink_inside_the_governance_folder_to_a_file_outside_is_refused(request_with, tmp_path, monkeypatch):
    governance = tmp_path / "governance"
    (governance / "golden").mkdir(parents=True)
    outside = tmp_path / "lenient.json"
    outside.write_text((EXAMPLES / "golden" / "classifier.json").read_text())
    (governance / "golden" / "classifier.json").symlink_to(outside)
    monkeypatch.setenv("CHANGEFLOW_GOVERNANCE", str(governance))
    assert "is outside the folders" in refusal(request_with(str(governance / "golden" / "classifier.json")))


def test_a_folder_named_in_the_roots_variable_is_allowed(request_with, tmp_path, monkeypatch):
    golden = tmp_path / "team-golden" / "classifier.json"
    golden.parent.mkdir()
    golden.write_text((EXAMPLES / "golden" / "classifier.json").read_text())
    assert "is outside" in refusal(request_with(str(golden)))
    monkeypatch.setenv("CHANGEFLOW_GOLDEN_ROOTS", str(golden.parent))
    check_request_golden(request_with(str(golden)), None, "request.yaml")


@pytest.mark.parametrize(
    "path", [EXAMPLES / "golden" / "missing.json", EXAMPLES / "golden"], ids=["missing", "a-directory"]
)
def test_missing_or_a_directory_inside_the_roots_is_refused_too(request_with, path):
    assert refusal(request_with(str(path))).startswith("request.yaml: change.golden_set")
