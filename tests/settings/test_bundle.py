"""The governance bundle: sealed by a maintainer, checked by executors that pin the maintainer's key,
named on the record, and void once edited."""

import shutil
from datetime import datetime, timezone

import pytest

from changeflow.domain.bundle import GOVERNANCE_FILES, bundle_digest
from changeflow.domain.identity import GOVERNANCE_BUNDLE
from changeflow.domain.record import ChangeRecord
from changeflow.domain.request import Risk
from changeflow.exceptions import InvalidSettings
from changeflow.settings import paths
from changeflow.settings.bundle import check, seal
from changeflow.settings.loader import load_change_request, load_governance
from changeflow.signing import PrivateKey, generate_key


@pytest.fixture()
def bundle(tmp_path):
    folder = tmp_path / "governance"
    folder.mkdir()
    for name in GOVERNANCE_FILES:
        if (paths.EXAMPLES / name).is_file():
            shutil.copy(paths.EXAMPLES / name, folder / name)
    return folder


@pytest.fixture()
def maintainer(tmp_path):
    public = generate_key(tmp_path / "maintainer.pem")
    return PrivateKey.load(tmp_path / "maintainer.pem"), public


def test_the_digest_changes_with_any_file_its_presence_or_its_name():
    base = {"approvers.yaml": b"a", "catalog.yaml": b"c"}
    assert bundle_digest(base) == bundle_digest(dict(base))
    assert bundle_digest(base) != bundle_digest({**base, "catalog.yaml": b"c "})
    assert bundle_digest(base) != bundle_digest({**base, "keys.yaml": b""})  # an empty keys file is not an absent one
    assert bundle_digest(base) != bundle_digest({"approvers.yaml": b"c", "catalog.yaml": b"a"})


def test_a_pinned_executor_accepts_the_sealed_bundle_and_names_its_signer(bundle, maintainer):
    key, public = maintainer
    seal(bundle, key)
    sealed = check(bundle, [public])
    assert sealed.signer == key.key_id and sealed.pinned
    governance = load_governance(bundle, pinned=[public])
    assert governance.bundle == sealed
    assert "signed by maintainer key" in sealed.describe()


@pytest.mark.parametrize(
    "tamper", ["widen the catalog", "add an approver key", "remove a file", "unsigned", "another maintainer"]
)
def test_a_pinned_executor_refuses_anything_else_in_one_line(bundle, maintainer, tmp_path, tamper):
    key, public = maintainer
    seal(bundle, key)
    if tamper == "widen the catalog":
        (bundle / "catalog.yaml").write_text((bundle / "catalog.yaml").read_text().replace("max: 2000", "max: 5000000"))
    elif tamper == "add an approver key":
        (bundle / "keys.yaml").write_text("approvers:\n  eve: {ed25519: " + generate_key(tmp_path / "eve.pem") + "}\n")
    elif tamper == "remove a file":
        (bundle / "drift.yaml").unlink()
    elif tamper == "unsigned":
        (bundle / "governance.sig").unlink()
    else:  # the requester seals the bundle with her own key
        generate_key(tmp_path / "eve-maintainer.pem")
        seal(bundle, PrivateKey.load(tmp_path / "eve-maintainer.pem"))
    with pytest.raises(InvalidSettings) as refused:
        load_governance(bundle, pinned=[public])
    assert "governance.sig" in str(refused.value) and "\n" not in str(refused.value)
    assert "changeflow governance sign" in str(refused.value)


def test_an_unpinned_executor_records_the_bundle_as_unsigned_even_when_a_seal_is_there(bundle, tmp_path):
    generate_key(tmp_path / "anyone.pem")
    seal(bundle, PrivateKey.load(tmp_path / "anyone.pem"))  # a seal by a key nobody pinned proves nothing
    sealed = load_governance(bundle, pinned=[]).bundle
    assert sealed.signer is None and "UNSIGNED" in sealed.describe()


def test_keys_in_the_bundle_are_the_only_approver_keys_of_a_pinned_executor(bundle, maintainer, tmp_path, monkeypatch):
    key, public = maintainer
    carol = generate_key(tmp_path / "carol.pem")
    (bundle / "keys.yaml").write_text(
        f"approvers:\n  Carol: {{ed25519: {carol}}}\nexecutors:\n  worker: {{ed25519: {public}}}\n"
    )
    registry = tmp_path / "registry.yaml"  # what `approvers enrol` run by anyone writes
    registry.write_text(
        f"approvers:\n  dave: {{ed25519: {generate_key(tmp_path / 'dave.pem')}}}\n  carol: {{ed25519: {generate_key(tmp_path / 'eve.pem')}}}\n"
    )
    monkeypatch.setenv("CHANGEFLOW_APPROVER_KEYS", str(registry))
    seal(bundle, key)
    pinned = load_governance(bundle, pinned=[public])
    assert pinned.approver_keys == {"carol": carol}
    assert pinned.executor_keys == {"worker": public}


def test_a_keys_file_with_a_malformed_key_is_refused_naming_it(bundle):
    (bundle / "keys.yaml").write_text("approvers:\n  carol: {ed25519: not-a-key}\n")
    with pytest.raises(InvalidSettings, match=r"keys.yaml: approvers.carol.ed25519"):
        load_governance(bundle, pinned=[])


def _judged_record(bundle_digest_: str) -> ChangeRecord:
    request = load_change_request(paths.CHANGES / "normal-deploy-v2.yaml")
    record = ChangeRecord.open(request, Risk.MEDIUM, datetime.now(timezone.utc))
    record.attachments[GOVERNANCE_BUNDLE] = bundle_digest_
    return record


def test_execution_is_refused_when_the_bundle_changed_since_the_change_was_judged(bundle, maintainer, monkeypatch):
    from changeflow.services.authority import governance_refusal

    key, public = maintainer
    seal(bundle, key)
    monkeypatch.setenv("CHANGEFLOW_GOVERNANCE_KEYS", public)
    governance = load_governance(bundle)
    record = _judged_record(governance.bundle.digest)
    assert governance_refusal(record, governance) is None
    (bundle / "approvers.yaml").write_text((bundle / "approvers.yaml").read_text() + "\n# eve added below\n")
    seal(bundle, key)  # even a properly re-signed bundle is not the one the approvers approved under
    assert "changed since the change was judged" in governance_refusal(record, governance)
    (bundle / "calendar.yaml").write_text("# edited, not signed\n")
    assert "no longer verifies" in governance_refusal(record, governance)
    assert "names no governance bundle" in governance_refusal(
        _judged_record("x").model_copy(update={"attachments": {}}), governance
    )


def test_a_governance_written_out_as_a_bundle_reads_back_the_same(tmp_path, maintainer):
    from changeflow.settings.bundle import write_bundle

    key, public = maintainer
    built = load_governance(
        paths.EXAMPLES,
        pinned=[],
        approval_timeout_s=45,
        require_proof=True,
        executor_keys={"worker": public},
        approver_keys={"carol": public},
        authenticators={"carol": "a" * 64},
    )
    folder = write_bundle(built, tmp_path / "written")
    seal(folder, key)
    read = load_governance(folder, pinned=[public])
    assert read.model_dump(exclude={"bundle"}) == built.model_dump(exclude={"bundle"})
    assert read.approval_timeout_s == 45 and read.bundle.signer == key.key_id
