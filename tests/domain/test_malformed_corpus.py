"""Every malformed request of tests/corpus/malformed (one class of mistake per file, made by
make_malformed.py) is refused with one line that names the field, and nothing else ever escapes:
no other exception, no silently accepted value. Plus what only a file system can do (a folder, a
device, a huge or binary file)."""

import os
import re
from pathlib import Path

import pytest

from changeflow.exceptions import InvalidChangeRequest
from changeflow.settings.loader import load_change_request

CORPUS = sorted((Path(__file__).resolve().parents[1] / "corpus" / "malformed").glob("*.yaml"))


def expected_field(path: Path) -> str:
    return re.search(r"expect-field: (\S+)", path.read_text(encoding="utf-8", errors="replace").splitlines()[0]).group(
        1
    )


def test_the_corpus_has_at_least_sixty_classes():
    assert len(CORPUS) >= 60 and len({p.name.split("-", 1)[1] for p in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_each_malformed_request_is_refused_naming_its_field(path):
    with pytest.raises(InvalidChangeRequest) as refused:  # any other exception fails the test: a traceback for a user
        load_change_request(path)
    message = str(refused.value)
    assert "\n" not in message and "\x00" not in message and "\u202e" not in message
    assert message.startswith(f"{path}: {expected_field(path)}"), message
    assert "; fix: " in message and len(message) < 700, message


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda d: d / "a-folder.yaml", "(file)"),
        (lambda d: d / "nowhere.yaml", "(file)"),
        (lambda d: d / "zero.yaml", "(file)"),
        (lambda d: d / "huge.yaml", "(file)"),
        (lambda d: d / "latin1.yaml", "(file)"),
    ],
    ids=["folder", "missing", "symlink-to-dev-zero", "over-a-mebibyte", "not-utf8"],
)
def test_files_that_are_not_a_request_are_refused_before_reading_them_whole(tmp_path, make, field):
    (tmp_path / "a-folder.yaml").mkdir()
    os.symlink("/dev/zero", tmp_path / "zero.yaml")
    (tmp_path / "huge.yaml").write_text("description: " + "x" * (2 * 1024 * 1024))
    (tmp_path / "latin1.yaml").write_bytes("description: caf\xe9\n".encode("latin-1"))
    path = make(tmp_path)
    with pytest.raises(InvalidChangeRequest) as refused:
        load_change_request(path)
    assert str(refused.value).startswith(f"{path}: {field}: "), refused.value
