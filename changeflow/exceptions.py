"""Exceptions raised by changeflow.

    ChangeflowError
    ├── InvalidChangeRequest     bad input: names the file, the field and the fix (CLI exit 2)
    ├── IllegalTransition        a lifecycle state change the state machine forbids
    ├── ConfigError              a model config that cannot be read, parsed or written
    ├── ChangeCancelled          the change was cancelled while running (compensation follows)
    ├── RecordNotFound           no change record with that ID
    └── ServerError              a model server did not do what was asked
        ├── TritonStartError     the local tritonserver did not become ready (log tail attached)
        ├── ServerUnavailable    the server does not answer
        ├── ModelLoadError       load / unload refused by the server (its message attached)
        ├── ModelNotReady        a model or version is not READY when it must be
        └── InferenceError       an inference request failed
"""

from __future__ import annotations


class ChangeflowError(Exception):
    """Base of every error changeflow raises on purpose."""


class InvalidChangeRequest(ChangeflowError):
    """A change request (file, form or CLI argument) that fails validation.

    ``str()`` is one line: ``<source>: <field>: <problem>; fix: <hint>``.
    """

    def __init__(self, source: str, field: str, problem: str, fix: str) -> None:
        self.source, self.field, self.problem, self.fix = source, field, problem, fix
        super().__init__(f"{source}: {field}: {problem}; fix: {fix}")


class IllegalTransition(ChangeflowError):
    """The change lifecycle refused a state change."""


class ConfigError(ChangeflowError):
    """A model configuration that cannot be read, parsed or written."""


class ChangeCancelled(ChangeflowError):
    """Cancellation was requested while the change ran; production is restored before it ends."""


class RecordNotFound(ChangeflowError):
    """No change record with that ID."""


class ServerError(ChangeflowError):
    """A model server did not do what was asked."""


class TritonStartError(ServerError):
    """The local tritonserver process exited or did not become ready in time."""


class ServerUnavailable(ServerError):
    """The server does not answer on its endpoint."""


class ModelLoadError(ServerError):
    """The server refused to load or unload a model."""


class ModelNotReady(ServerError):
    """A model, or one of its versions, is not READY."""


class InferenceError(ServerError):
    """An inference request failed at the server or in transit."""
