"""Every error changeflow raises on purpose, in one tree.

    ChangeflowError
    ├── InvalidInput               bad input, refused before anything is touched (CLI: exit 2, one line)
    │   ├── InvalidChangeRequest   a change request: names the file, the field and the fix
    │   ├── InvalidSettings        an environment, governance or calendar file, or a CLI option
    │   └── GoldenSetMismatch      a golden set that does not fit its model's config (names the case and tensor)
    ├── UnknownKind                a change kind no module of changeflow.kinds defines
    ├── IllegalTransition          a lifecycle state change the state machine forbids
    ├── ChangeStateError           the change is not in a state that allows this (exists already, not scheduled, …)
    │   └── ReviewRefused          a post-implementation review the executor did not count (the reason on the record)
    ├── RecordNotFound             no change record with that ID
    ├── RecordStoreError           the record database cannot be opened or written
    ├── RecordTampered             a record whose version chain does not verify: no executor acts on it
    ├── NotWaitingForApproval      no paused flow run of that change waits for a decision
    ├── PrefectUnavailable         no reachable Prefect server is configured
    ├── ChangeCancelled            cancelled while running (compensation follows)
    ├── RollbackFailed             production could not be verified on the restored state: a person must look
    ├── ConfigError                a model config that cannot be read, parsed or written
    ├── ClusterError               the Kubernetes API refused or could not be reached
    ├── NoMetricData               a metric query matched no series (a typed "no values": never read as zero)
    ├── LocalServerError           a local Prefect server (demo, serve, tests) did not start
    │   └── TritonStartError       a local tritonserver did not become ready (log tail attached)
    └── ServerError                a model server did not do what was asked
        ├── ServerUnavailable      the server does not answer
        ├── ModelLoadError         load / unload refused by the server (its message attached)
        ├── ModelNotReady          a model or version is not READY when it must be
        ├── ServingMismatch        production serves another version than the request expects
        └── InferenceError         an inference request failed

The command line prints any of them as one line: ``error:`` and exit 2 for ``InvalidInput``,
``failed:`` and exit 1 for the rest. None of them is ever shown as a traceback.
"""

from __future__ import annotations


class ChangeflowError(Exception):
    """Base of every error changeflow raises on purpose."""


class InvalidInput(ChangeflowError):
    """Input that fails validation; ``str()`` is one line: ``<source>: <field>: <problem>; fix: <hint>``."""

    def __init__(self, source: str, field: str, problem: str, fix: str) -> None:
        self.source, self.field, self.problem, self.fix = source, field, problem, fix
        super().__init__(f"{source}: {field}: {problem}; fix: {fix}")


class InvalidChangeRequest(InvalidInput):
    """A change request (file, form or CLI argument) that fails validation."""


class InvalidSettings(InvalidInput):
    """An environment, governance or calendar file, or a command-line option, that fails validation."""


class GoldenSetMismatch(InvalidInput):
    """A golden set that does not fit the model it tests: a tensor's name, datatype or shape, or an output
    left uncompared without an explicit skip."""


class UnknownKind(ChangeflowError):
    """A change kind that no module of ``changeflow.kinds`` defines."""


class IllegalTransition(ChangeflowError):
    """The change lifecycle refused a state change."""


class ChangeStateError(ChangeflowError):
    """The change is not in a state that allows what was asked (its ID exists, it is not scheduled, …)."""


class RequestRefused(ChangeflowError):
    """A change run refused before its record opened or anything was touched: the run ends *Refused*
    with this one line as its state message (the Run form's user reads it there)."""


class ReviewRefused(ChangeStateError):
    """The executor refused a post-implementation review: ``str()`` is the reason (also kept on the record)."""


class RecordNotFound(ChangeflowError):
    """No change record with that ID."""


class RecordStoreError(ChangeflowError):
    """The record database cannot be opened or written (its URL and the driver's message attached)."""


class RecordTampered(ChangeflowError):
    """A record whose version chain does not verify (rewritten outside changeflow): no executor acts on it."""


class NotWaitingForApproval(ChangeflowError):
    """No paused flow run of that change is waiting for a decision."""


class PrefectUnavailable(ChangeflowError):
    """No reachable Prefect server is configured."""


class ChangeCancelled(ChangeflowError):
    """Cancellation was requested while the change ran; production is restored before it ends."""


class ChangeNotDone(ChangeflowError):
    """A governed change ended without closing (rejected, expired, aborted, rolled back, needing attention).
    Not raised by changeflow: its flow run's red state carries it, with the ``result``, because Prefect turns
    a failed run's data into an exception when the run ends; the record says what happened."""

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message, result)
        self.result = result

    def __str__(self) -> str:
        return str(self.args[0])


class RollbackFailed(ChangeflowError):
    """Production could not be verified on the restored state: a person must look now."""


class ConfigError(ChangeflowError):
    """A model configuration that cannot be read, parsed or written."""


class ClusterError(ChangeflowError):
    """The Kubernetes API refused or could not be reached; the message says what to fix."""


class NoMetricData(ChangeflowError):
    """A metric provider's query matched no series: no data, which a bake never reads as a pass."""


class LocalServerError(ChangeflowError):
    """A local server started for the demo or the tests (tritonserver, prefect server) did not come up."""


class TritonStartError(LocalServerError):
    """The local tritonserver process exited or did not become ready in time (log tail attached)."""


class ServerError(ChangeflowError):
    """A model server did not do what was asked."""


class ServerUnavailable(ServerError):
    """The server does not answer on its endpoint."""


class ModelLoadError(ServerError):
    """The server refused to load or unload a model."""


class ModelNotReady(ServerError):
    """A model, or one of its versions, is not READY."""


class ServingMismatch(ServerError):
    """Production does not serve the version the request was written against."""


class InferenceError(ServerError):
    """An inference request failed at the server or in transit."""
