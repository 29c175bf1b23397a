import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from changeflow.domain.request import ChangeRequest
from changeflow.exceptions import InvalidChangeRequest
from changeflow.settings.loader import load_change_request, parse_change_request

CHANGES = Path(__file__).resolve().parents[2] / "examples" / "changes"
VALID = sorted(CHANGES.glob("*.yaml"))
# A request can be malformed in itself (the loader refuses it) or name a golden set that cannot judge it
# (a missing file, another model's): `changeflow submit` refuses those, tested in tests/e2e/test_cli.py.
INVALID = sorted(
    p for p in (CHANGES / "invalid").glob("*.yaml") if "expect-field: change.golden_set" not in p.read_text()
)


def expected_field(path: Path) -> str:
    return re.search(r"expect-field: (\S+)", path.read_text()).group(1)


def test_examples_exist():
    assert len(VALID) >= 6 and len(INVALID) >= 8


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_examples_load(path):
    request = load_change_request(path)
    assert isinstance(request, ChangeRequest) and request.id.startswith("CHG-")


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_examples_name_the_field_in_one_line(path):
    with pytest.raises(InvalidChangeRequest) as caught:
        load_change_request(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {expected_field(path)}")
    assert "; fix: " in message


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidChangeRequest, match=r"nope.yaml: \(file\): does not exist"):
        load_change_request(tmp_path / "nope.yaml")


def test_a_list_document_is_refused():
    with pytest.raises(InvalidChangeRequest, match="is not a mapping"):
        parse_change_request(["a", "b"], "list.yaml")


def test_typo_suggests_the_right_field():
    data = yaml.safe_load((CHANGES / "normal-deploy-v2.yaml").read_text())
    data["change"]["bake_secs"] = data["change"].pop("bake_seconds")
    with pytest.raises(
        InvalidChangeRequest, match="change.bake_secs: is not a known field; fix: did you mean 'bake_seconds'"
    ):
        parse_change_request(data)


BASE = yaml.safe_load((CHANGES / "normal-deploy-v2.yaml").read_text())
junk = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=12), st.lists(st.integers(), max_size=2)
)


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(
        ["id", "type", "description", "requester", "model", "rollback_plan", "window", "change", "extra"]
    ),
    sub=st.sampled_from(["kind", "to_version", "from_version", "golden_set", "bake_seconds", "other"]),
    value=junk,
    nested=st.booleans(),
)
def test_any_mutation_is_accepted_or_refused_in_one_line(field, sub, value, nested):
    """Whatever a user writes, the loader answers with a request or one InvalidChangeRequest line."""
    data = yaml.safe_load(yaml.safe_dump(BASE))
    if nested:
        data["change"][sub] = value
    else:
        data[field] = value
    try:
        request = parse_change_request(data, "fuzz.yaml")
    except InvalidChangeRequest as exc:
        assert "\n" not in str(exc) and str(exc).startswith("fuzz.yaml: ")
        assert exc.field and exc.fix
    else:
        assert request.model_dump(mode="json")["id"] == request.id
