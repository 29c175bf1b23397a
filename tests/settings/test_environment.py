"""An environment whose staging is production under another spelling is refused before anything runs,
in one line naming the field; two servers of their own (local ports, blue-green's green) are accepted."""

import pytest
import yaml
from pydantic import ValidationError

from changeflow.exceptions import InvalidSettings
from changeflow.settings import paths
from changeflow.settings.environment import Environment, server_address
from changeflow.settings.loader import load_settings_file


def written(tmp_path, production: dict, staging: dict):
    path = tmp_path / "environment.yaml"
    path.write_text(
        yaml.safe_dump({"production": {"name": "production", **production}, "staging": {"name": "staging", **staging}})
    )
    return path


@pytest.mark.parametrize(
    "staging_url", ["http://127.0.0.1:8000/", "HTTP://LOCALHOST:8000", "http://[::1]:8000/v2", "127.0.0.1:8000"]
)
def test_staging_on_productions_server_is_refused_naming_the_field(tmp_path, staging_url):
    path = written(tmp_path, {"http_url": "http://localhost:8000"}, {"http_url": staging_url})
    with pytest.raises(InvalidSettings) as refused:
        load_settings_file(path, Environment)
    line = str(refused.value)
    assert "\n" not in line and refused.value.field == "staging.http_url", line
    assert line.startswith(
        f"{path}: staging.http_url: reaches production's server (localhost:8000, as production.http_url http://localhost:8000 does)"
    )
    with pytest.raises(ValidationError) as error:  # the fix travels with the problem, as a validator's ValueError does
        Environment.model_validate(yaml.safe_load(path.read_text()))
    assert (
        error.value.errors()[0]["ctx"]["error"].fix
        == "point staging.http_url at a Triton of its own (another host or port)"
    )


def test_the_same_metrics_or_repository_is_refused(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "models")
    metrics = written(
        tmp_path,
        {"http_url": "http://h:8000", "metrics_url": "http://h:8002/metrics"},
        {"http_url": "http://h:9000", "metrics_url": "http://H:8002/metrics/"},
    )
    with pytest.raises(InvalidSettings) as refused:
        load_settings_file(metrics, Environment)
    assert refused.value.field == "staging.metrics_url"
    repository = written(
        tmp_path,
        {"http_url": "http://h:8000", "repository": str(tmp_path / "models")},
        {"http_url": "http://h:9000", "repository": str(tmp_path / "link")},
    )
    with pytest.raises(InvalidSettings) as refused:
        load_settings_file(repository, Environment)
    assert refused.value.field == "staging.repository" and "production's model repository" in refused.value.problem


def test_two_servers_of_their_own_are_accepted(tmp_path):
    local = written(
        tmp_path,
        {
            "http_url": "http://127.0.0.1:8000",
            "metrics_url": "http://127.0.0.1:8002/metrics",
            "repository": str(tmp_path / "a"),
        },
        {
            "http_url": "http://127.0.0.1:9000",
            "metrics_url": "http://127.0.0.1:9002/metrics",
            "repository": str(tmp_path / "b"),
        },
    )
    assert load_settings_file(local, Environment).staging.http_url == "http://127.0.0.1:9000"
    blue_green = load_settings_file(paths.EXAMPLES / "environment-kubernetes.yaml", Environment)
    assert blue_green.staging.name == "green"
    assert load_settings_file(
        written(tmp_path, {"http_url": "http://10.0.0.1:8000"}, {"http_url": "http://10.0.0.2:8000"}), Environment
    )


def test_a_server_address_is_spelled_one_way():
    assert (
        server_address("http://localhost:8000")
        == server_address("http://127.0.0.1:8000/")
        == server_address("http://0.0.0.0:8000")
    )
    assert (
        server_address("https://triton.example.") == ("triton.example", 443) != server_address("http://triton.example")
    )
    assert server_address("http://[::ffff:10.0.0.1]:8000") == server_address("http://10.0.0.1:8000")
    assert server_address("http://h:port") is None
