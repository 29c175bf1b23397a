"""Golden-set files are read the strict way: finite numbers only (Python's json takes NaN and Infinity, and
reads 1e400 as infinity), at most MAX_CASES cases and MAX_BYTES bytes, each refused in one line naming the
field and the fix before anything is bound or sent."""

import json

import pytest

from changeflow.domain.golden import MAX_CASES
from changeflow.exceptions import InvalidChangeRequest
from changeflow.services.verification import MAX_BYTES, load_golden

CASE = '{"inputs": {"INPUT": [1.0, 2.0]}, "expected": {"OUTPUT": [%s, 2.0]}}'


def refusal(path, field="golden_set") -> str:
    with pytest.raises(InvalidChangeRequest) as refused:
        load_golden(path, field)
    line = str(refused.value)
    assert "\n" not in line and line.startswith(f"{path}: {field}: ")
    return line.removeprefix(f"{path}: {field}: ")


@pytest.mark.parametrize("written", ["NaN", "Infinity", "-Infinity", "1e400", "-2.5E+999"])
def test_a_number_that_is_not_finite_is_refused_naming_its_path(tmp_path, written):
    path = tmp_path / "golden.json"
    path.write_text('{"model": "m", "cases": [%s, %s]}' % (CASE % "1.0", CASE % written))
    assert (
        refusal(path)
        == f"cases.1.expected.OUTPUT.0: is not a finite number ({written}); fix: write a finite number (JSON has no NaN or Infinity)"
    )


def test_an_infinite_tolerance_is_refused(tmp_path):
    path = tmp_path / "golden.json"
    path.write_text('{"model": "m", "compare": {"OUTPUT": {"atol": Infinity}}, "cases": [%s]}' % (CASE % "1.0"))
    assert refusal(path).startswith("compare.OUTPUT.atol: is not a finite number (Infinity)")


def test_more_cases_than_the_cap_are_refused_naming_the_cap(tmp_path):
    path = tmp_path / "golden.json"
    path.write_text(json.dumps({"model": "m", "cases": [json.loads(CASE % "1.0")] * (MAX_CASES + 1)}))
    line = refusal(path)
    assert line.startswith(
        f"cases: {MAX_CASES + 1:,} cases, over the cap of {MAX_CASES:,}; fix: keep golden sets small"
    ), line


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "golden.json"
    with path.open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: no disk used
    monkeypatch.setattr(type(path), "open", lambda *a, **k: pytest.fail("a file over the cap was opened"))
    line = refusal(path)
    assert line.startswith(f"is {MAX_BYTES + 1:,} bytes, over the 16 MiB cap; fix: keep golden sets small"), line


def test_the_shipped_golden_sets_fit_the_caps():
    from pathlib import Path

    for path in (Path(__file__).resolve().parents[2] / "examples" / "golden").glob("*.json"):
        if not path.name.endswith("-inputs.json"):
            assert 0 < len(load_golden(path).cases) <= MAX_CASES and path.stat().st_size <= MAX_BYTES
