"""The one place that maps a configured kind to its adapter class. An unknown kind raises."""

from __future__ import annotations

from changeflow.adapters.model_config import LocalConfigStore
from changeflow.adapters.prefect_records import PrefectRecordStore
from changeflow.adapters.records import FileRecordStore
from changeflow.adapters.triton import TritonModelServer
from changeflow.environment import RecordStoreSettings, ServerEndpoint
from changeflow.exceptions import ChangeflowError

_SERVERS = {"triton": TritonModelServer}
_RECORD_STORES = {"file": lambda settings: FileRecordStore(settings.path), "prefect": lambda settings: PrefectRecordStore()}


def model_server(endpoint: ServerEndpoint) -> TritonModelServer:
    try:
        cls = _SERVERS[endpoint.kind]
    except KeyError:
        raise ChangeflowError(f"unknown server kind {endpoint.kind!r}; known: {', '.join(_SERVERS)}") from None
    return cls(endpoint.http_url, endpoint.metrics_url, name=endpoint.name, repository_headers=endpoint.repository_headers)


def config_store(endpoint: ServerEndpoint) -> LocalConfigStore:
    if endpoint.repository is None:
        raise ChangeflowError(f"{endpoint.name}: no local model repository configured; config changes need one")
    return LocalConfigStore(endpoint.repository)


def record_store(settings: RecordStoreSettings) -> FileRecordStore | PrefectRecordStore:
    try:
        make = _RECORD_STORES[settings.kind]
    except KeyError:
        raise ChangeflowError(f"unknown record store kind {settings.kind!r}; known: {', '.join(_RECORD_STORES)}") from None
    return make(settings)
