"""The strict YAML reading refuses NaN and infinities in every file it reads (requests, environments,
governance), naming the path of the value: a NaN passes every bound check, an infinity every ``<=``."""

import pytest
import yaml

from changeflow.domain.windows import Calendar
from changeflow.exceptions import InvalidChangeRequest, InvalidSettings
from changeflow.settings import paths
from changeflow.settings.environment import Environment
from changeflow.settings.loader import load_change_request, load_settings_file


def test_an_environment_with_an_infinite_or_nan_setting_is_refused_naming_its_path(tmp_path):
    path = tmp_path / "environment.yaml"
    base = {
        "production": {"name": "production", "http_url": "http://127.0.0.1:8000"},
        "staging": {"name": "staging", "http_url": "http://127.0.0.1:8001"},
    }
    for written, spelled in ((".inf", ".inf"), (".NaN", ".nan"), ("-.Inf", "-.inf"), ("1.0e+999", ".inf")):
        path.write_text(yaml.safe_dump(base) + f"bake: {{interval_s: {written}}}\n")
        with pytest.raises(InvalidSettings) as refused:
            load_settings_file(path, Environment)
        assert (
            str(refused.value)
            == f"{path}: bake.interval_s: is not a finite number ({spelled}); fix: write a finite number"
        )


def test_a_change_request_with_a_nan_anywhere_is_refused_before_it_is_validated(tmp_path):
    request = yaml.safe_load((paths.EXAMPLES / "changes" / "standard-config-tweak.yaml").read_text())
    text = yaml.safe_dump(request).replace("max_queue_delay_microseconds: 500", "max_queue_delay_microseconds: .nan")
    assert ".nan" in text
    (tmp_path / "request.yaml").write_text(text)
    with pytest.raises(InvalidChangeRequest) as refused:
        load_change_request(tmp_path / "request.yaml")
    assert str(refused.value).endswith(
        "change.set.dynamic_batching.max_queue_delay_microseconds: is not a finite number (.nan); fix: write a finite number"
    )


def test_a_non_finite_key_is_refused_too(tmp_path):
    (tmp_path / "calendar.yaml").write_text("timezone: UTC\n.inf: 1\n")
    with pytest.raises(InvalidSettings, match=r"calendar.yaml: inf: is not a finite number \(\.inf\)"):
        load_settings_file(tmp_path / "calendar.yaml", Calendar)
