"""Steady client load on a local Triton from a separate process (threads there, not in the caller's GIL),
used by the benchmark and the demo. The requests are a golden set's cases, bound to the model's config
on the server, so any model can be loaded: nothing here knows a tensor's name, datatype or shape.

Bounded in count and time, loopback only. Reports the total and every failure with its time and message.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time

SLOTS_PER_S = 10  # answers are counted per tenth of a second and version


def _worker(http_url, grpc_url, golden_set, stop, deadline, max_requests, counts, failures, lock, pause_s, answered):
    from changeflow.bootstrap import model_server
    from changeflow.exceptions import ServerError
    from changeflow.services.verification import bound_golden
    from changeflow.settings.environment import ServerEndpoint

    server = model_server(ServerEndpoint(name="load", http_url=http_url, grpc_url=grpc_url))
    golden = bound_golden(server, golden_set)
    sent = 0
    while not stop.is_set() and time.monotonic() < deadline and sent < max_requests:
        sent += 1
        if pause_s:
            time.sleep(pause_s)
        try:
            result = server.infer(golden.model, golden.requests[sent % len(golden)], datatypes=golden.datatypes)
            key = (int(time.time() * SLOTS_PER_S), result.model_version)
            with lock:
                answered[key] = answered.get(key, 0) + 1
        except ServerError as exc:
            with lock:
                failures.append((time.time(), str(exc)[:200]))
    with lock:
        counts.append(sent)


def _run(http_url, grpc_url, golden_set, threads, seconds, max_requests, pause_s, stop, started, results):
    inner_stop, lock = threading.Event(), threading.Lock()
    counts, failures, answered = [], [], {}
    deadline = time.monotonic() + seconds
    workers = [
        threading.Thread(
            target=_worker,
            args=(
                http_url,
                grpc_url,
                golden_set,
                inner_stop,
                deadline,
                max_requests // threads,
                counts,
                failures,
                lock,
                pause_s,
                answered,
            ),
        )
        for _ in range(threads)
    ]
    for w in workers:
        w.start()
    started.set()
    while any(w.is_alive() for w in workers):
        if stop.wait(0.1):
            inner_stop.set()
    for w in workers:
        w.join()
    results.put({"requests": sum(counts), "failures": failures, "answered": answered})


class ClientLoad:
    """``with ClientLoad(url, "/path/golden.json"):`` sends the golden set's requests, unversioned, until the block ends.

    ``pause_s`` spaces each thread's requests (light background traffic for the demo); 0 is flat out.
    ``grpc_url``: where a streaming (decoupled) model's streams go (each request is one whole stream).
    """

    def __init__(
        self,
        http_url: str,
        golden_set: str,
        threads: int = 4,
        max_seconds: float = 900,
        max_requests: int = 5_000_000,
        pause_s: float = 0.0,
        grpc_url: str | None = None,
    ):
        self._args = (http_url, grpc_url, str(golden_set), threads, max_seconds, max_requests, pause_s)
        context = mp.get_context("spawn")
        self._stop, self._started = context.Event(), context.Event()
        self._results = context.Queue()
        self._process = context.Process(
            target=_run, args=(*self._args, self._stop, self._started, self._results), daemon=True
        )
        self.requests = 0
        self.failures: list[tuple[float, str]] = []
        self.answered: dict[tuple[int, int], int] = {}  # (time slot, version) -> answers

    def __enter__(self) -> ClientLoad:
        self._process.start()
        self._started.wait(timeout=60)  # traffic is flowing before the caller goes on
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        result = self._results.get(timeout=60)
        self._process.join(timeout=30)
        self.requests, self.failures = result["requests"], [tuple(f) for f in result["failures"]]
        self.answered = result["answered"]

    def answered_by(self, start: float, end: float) -> dict[int, int]:
        """Answers per version between two wall-clock times (in slots of 1/SLOTS_PER_S s): what clients got."""
        found: dict[int, int] = {}
        for (slot, version), count in self.answered.items():
            if start * SLOTS_PER_S <= slot <= end * SLOTS_PER_S:
                found[version] = found.get(version, 0) + count
        return found
