"""A capture writes only a golden set a change could use: at most MAX_CASES inputs, an .npz that does not
unpack beyond the size cap, and finite answers; a relative path is the caller's, not the governance folder's."""

import json
from pathlib import Path

import numpy as np
import pytest

from changeflow.domain.golden import MAX_CASES
from changeflow.domain.model_config import parse_config
from changeflow.exceptions import GoldenSetMismatch, InvalidChangeRequest
from changeflow.services import golden_capture
from changeflow.services.golden_capture import capture_golden, read_inputs
from tests.fakes import FakeModelServer

SCALER = parse_config(
    (
        Path(__file__).resolve().parents[2] / "examples" / "model_repository" / "feature_scaler" / "config.pbtxt"
    ).read_text()
)


def test_more_inputs_than_a_golden_set_may_hold_are_refused(tmp_path):
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps([{"INPUT": [1.0, 2.0, 3.0, 4.0]}] * (MAX_CASES + 1)))
    with pytest.raises(
        InvalidChangeRequest, match=f"--inputs: holds {MAX_CASES + 1:,} cases, over the cap of {MAX_CASES:,}"
    ):
        read_inputs(path)
    np.savez(tmp_path / "inputs.npz", INPUT=np.zeros((MAX_CASES + 1, 4), np.float32))
    with pytest.raises(InvalidChangeRequest, match="over the cap"):
        read_inputs(tmp_path / "inputs.npz")


def test_an_npz_that_unpacks_beyond_the_size_cap_is_refused_before_it_is_unpacked(tmp_path, monkeypatch):
    monkeypatch.setattr(golden_capture, "MAX_BYTES", 1_000)
    np.savez_compressed(
        tmp_path / "inputs.npz", INPUT=np.zeros((100, 4), np.float32)
    )  # 1,728 bytes unpacked, far fewer packed
    with pytest.raises(InvalidChangeRequest, match="--inputs: unpacks to 1,728 bytes, over the 0 MiB cap"):
        read_inputs(tmp_path / "inputs.npz")


def test_a_relative_path_is_read_from_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "inputs.json").write_text(json.dumps([{"INPUT": [1.0, 2.0, 3.0, 4.0]}]))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHANGEFLOW_GOVERNANCE", str(tmp_path / "elsewhere"))
    assert read_inputs(Path("inputs.json")) == [{"INPUT": [1.0, 2.0, 3.0, 4.0]}]


def test_an_answer_that_is_not_finite_is_not_written_into_a_golden_set():
    def answer(model, version, inputs):
        out = inputs["INPUT"].copy()
        out[0, 2] = np.nan
        return {"OUTPUT": out}

    server = FakeModelServer(answer, ready={"feature_scaler": [1]})
    server.configs["feature_scaler"] = SCALER
    with pytest.raises(GoldenSetMismatch, match=r"cases\[0\]\.expected\.OUTPUT\.2: the model answered nan"):
        capture_golden(server, "feature_scaler", 1, [{"INPUT": [1.0, 2.0, 3.0, 4.0]}])
