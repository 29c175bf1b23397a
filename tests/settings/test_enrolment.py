"""Enrolment is governed: re-enrolling an approver revokes the old one-time-code secret, is logged with who
did it, and a new key counts for nothing with a pinned executor until the bundle carries it."""

import json
import shutil

from changeflow.adapters.credentials import ApproverCredentials, current_code, enrol
from changeflow.settings import paths
from changeflow.settings.bundle import seal
from changeflow.settings.loader import load_governance
from changeflow.signing import PrivateKey, generate_key


def test_re_enrolment_revokes_the_old_code_is_logged_and_a_new_key_waits_for_the_bundle(tmp_path):
    import yaml

    secrets, registry = tmp_path / "secrets.yaml", tmp_path / "registry.yaml"
    first = enrol("carol", tmp_path / "keys", secrets, registry)
    old_secret = yaml.safe_load(secrets.read_text())["carol"]
    bundle = tmp_path / "governance"
    shutil.copytree(
        paths.EXAMPLES, bundle, ignore=shutil.ignore_patterns("model_repository", "golden", "changes", "bad", "*.py")
    )
    (bundle / "keys.yaml").write_text(f"approvers:\n  carol: {{ed25519: {first.public_key}}}\n")
    generate_key(tmp_path / "maintainer.pem")
    maintainer = PrivateKey.load(tmp_path / "maintainer.pem")
    seal(bundle, maintainer)

    again = enrol("carol", tmp_path / "keys", secrets, registry)  # by anyone who can run the command
    log = [json.loads(line) for line in (tmp_path / "enrolments.log").read_text().splitlines()]
    assert [(e["approver"], e["replaced"]) for e in log] == [("carol", False), ("carol", True)] and all(
        e["by"] for e in log
    )
    credentials = ApproverCredentials({}, secrets)
    assert not credentials.verify(
        "CHG-0001", "carol", True, "d" * 64, code=current_code(old_secret)
    ).valid  # the old authenticator is revoked
    pinned = load_governance(bundle, pinned=[maintainer.public])
    assert (
        pinned.approver_keys == {"carol": first.public_key} != {"carol": again.public_key}
    )  # the registry's new key is not consulted
