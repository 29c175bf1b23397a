"""Benchmark: does the bake catch a regression against the old version, how fast, and how often does it
roll back a healthy version? Real Triton, steady client load, the product's own bake and judge, for a
unary model (``classifier``) and a streaming one (``generator``, decoupled, over gRPC).

    make bench-detect   (or: .venv/bin/python bench/detect.py [--rows unary,stream] [--healthy-bakes 100] ...)
    .venv/bin/python bench/detect.py --unary-rows latency --healthy-bakes 0   # the +40 % latency row and the streams

Each bake starts as a promotion does: production serves ``[old, new]`` freshly loaded, a smoke test
warms the new version, then ``services.bake.bake`` runs with the default ``BakeSettings`` (a sample
every 0.5 s, 20 paired probes) and governance's default comparison thresholds, exactly what the
model-deployment flow calls (the Prefect flow around it is left out: it adds no judging). Regressions,
each baked up to ``--regression-seconds`` (stops at the first FAIL):

- latency: classifier v5 (v2's answers) with extra compute; stream_first_response: generator v5 (v2's
  tokens), its first token held back a share of the time it took. Each bake reports the shift its own
  paired probes measured, and the slow version's setting follows the measurements toward +40 %
  (``bench/detect_knob.py``), after ``--warmup-bakes`` uncounted bakes that find it. For classifier v5 the
  knob follows ``--check-pairs`` more paired requests sent after each bake: its bakes mostly stop at the
  first possible sample, whose pairs (those that crossed the threshold) measure high;
- errors2: classifier v6, 2 % of requests fail (per-response errors, invisible to Triton's counters);
- errors10: classifier v4, 10 % fail; stream_errors: generator v4, 30 % of streams break mid-way.

Healthy: v2 replacing v1 of each model, baked ``--healthy-seconds``; any verdict but PASS is a false
rollback (INCONCLUSIVE included: the default for a standard change is to roll back on it).
The client load runs on the model of the rows being baked (streams for the generator).
Prints progress, then one JSON line (the last line).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from detect_knob import Knob, measured_shift, shift_summary  # noqa: E402  (bench/: the knob is unit-tested apart)

from changeflow.adapters.config_store import LocalConfigStore  # noqa: E402
from changeflow.adapters.triton import with_versions  # noqa: E402
from changeflow.bootstrap import model_server  # noqa: E402
from changeflow.domain.comparison import ComparisonThresholds  # noqa: E402
from changeflow.domain.verdicts import BakeThresholds, Outcome  # noqa: E402
from changeflow.local.client_load import ClientLoad  # noqa: E402
from changeflow.local.triton_server import TritonServer  # noqa: E402
from changeflow.services.bake import bake  # noqa: E402
from changeflow.services.verification import bound_golden, observe_case, smoke_verdict  # noqa: E402
from changeflow.settings import paths  # noqa: E402
from changeflow.settings.environment import BakeSettings, ServerEndpoint  # noqa: E402

TARGET_SHIFT = 0.40
UNARY, STREAM = "classifier", "generator"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def p50(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def golden_path(model: str) -> str:
    return str(paths.EXAMPLES / "golden" / f"{model}.json")


class Bench:
    """One model on the production Triton: serve versions as a promotion does, and bake them."""

    def __init__(
        self, endpoint: ServerEndpoint, model: str, config, settings: BakeSettings, comparison: ComparisonThresholds
    ):
        self.endpoint, self.production, self.model, self.config = endpoint, model_server(endpoint), model, config
        self.settings, self.comparison = settings, comparison
        self.golden_path = golden_path(model)
        self.golden = bound_golden(self.production, self.golden_path)

    def serve(self, versions: list[int], parameters: dict[str, str] | None = None) -> None:
        """As a promotion: the new version loaded fresh beside the old one, then smoke-tested (which warms it)."""
        self.production.load(self.model, with_versions(self.config, versions[:1]))
        config = with_versions(self.config, versions)
        for key, value in (parameters or {}).items():
            config.parameters[key].string_value = value
        self.production.load(self.model, config)
        smoke = smoke_verdict(self.production, self.golden, self.settings.smoke_requests, versions[-1], "production")
        if not smoke.passed:
            raise RuntimeError(f"smoke test of {self.model} {versions}: {smoke}")

    def bake(self, versions: list[int], seconds: float, parameters: dict[str, str] | None = None):
        self.serve(versions, parameters)
        return bake(
            self.production,
            self.production,
            self.golden,
            versions[-1],
            seconds=seconds,
            interval_s=self.settings.interval_s,
            probes_per_sample=self.settings.probes_per_sample,
            limits=BakeThresholds(),
            baseline=versions[0],
            comparison=self.comparison,
        )

    def paired_shift(self, old: int, new: int, pairs: int) -> float | None:
        """``new``'s p50 over ``old``'s, minus one, from ``pairs`` golden requests to each, interleaved in
        alternating order as the bake's probes are (both still loaded, the same client load)."""
        seen: dict[int, list[float]] = {old: [], new: []}
        for i in range(pairs):
            for version in (old, new) if i % 2 == 0 else (new, old):
                answer, _ = observe_case(self.production, self.golden, i % len(self.golden), version)
                if answer.error is None:
                    seen[version].append(answer.latency_ms)
        if not seen[old] or not seen[new]:
            return None
        return statistics.median(seen[new]) / statistics.median(seen[old]) - 1.0


class Row:
    """One regression: its versions, fixed parameters and, for a slow version, the knob that sets it.
    ``check_pairs``: after each bake, that many more paired requests measure the shift the knob follows (a
    bake stopped at its first verdict measured only the pairs that crossed the threshold, which run high)."""

    def __init__(
        self,
        name: str,
        versions: list[int],
        parameters: dict[str, str],
        knob: tuple[str, Knob] | None = None,
        check_pairs: int = 0,
    ):
        self.name, self.versions, self.parameters, self.knob = name, versions, parameters, knob
        self.check_pairs = check_pairs

    def parameters_now(self) -> dict[str, str]:
        if self.knob is None:
            return self.parameters
        key, knob = self.knob
        return {**self.parameters, key: f"{knob.value:.4f}"}


def regressions(bench: Bench, row: Row, rounds: int, seconds: float, warmup: int) -> dict:
    detected, times, reasons, in_bakes = 0, [], [], []
    for i in range(-warmup if row.knob else 0, rounds):
        report = bench.bake(row.versions, seconds, row.parameters_now())
        shift = measured_shift(report.observed)
        checked = bench.paired_shift(*row.versions, row.check_pairs) if row.check_pairs else shift
        measured = f", measured {shift:+.0%}" if shift is not None else ""
        measured += f", checked {checked:+.0%}" if row.check_pairs and checked is not None else ""
        label = f"warm-up {i + warmup + 1}/{warmup}" if i < 0 else f"{i + 1}/{rounds}"
        say(
            f"  {row.name} {label}: {report.verdict.outcome.value} after {report.elapsed_s:.1f}s{measured}: {report.verdict.reason[:150]}"
        )
        if row.knob:
            row.knob[1].update(checked)
            if i < 0:
                row.knob[1].measured.clear()  # warm-up shifts found the setting; they are not the row's
                continue
            if shift is not None:
                in_bakes.append(shift)
        caught = report.verdict.outcome is Outcome.FAIL
        detected += caught
        if caught:
            times.append(report.elapsed_s)
        reasons.append(report.verdict.reason)
    result = {
        "rate": round(detected / rounds, 3),
        "s_p50": p50(times),
        "s_max": round(max(times), 2) if times else None,
        "first_reason": reasons[0][:300] if reasons else "",
    }
    if row.knob:
        key, knob = row.knob
        checked = {k.replace("measured", "checked"): v for k, v in knob.summary().items()} if row.check_pairs else {}
        result |= {**shift_summary(in_bakes), **checked, "setting": {key: round(knob.value, 4)}}
    return result


def healthy(bench: Bench, bakes: int, seconds: float) -> tuple[int, list[str]]:
    false_rollbacks, reasons = 0, []
    say(f"{bakes} healthy bakes of {bench.model} v2 replacing v1, {seconds:.0f}s each …")
    for i in range(bakes):
        report = bench.bake([1, 2], seconds)
        if not report.verdict.passed:
            false_rollbacks += 1
            reasons.append(report.verdict.reason[:300])
            say(f"  healthy {i + 1}: {report.verdict.outcome.value}: {report.verdict.reason[:200]}")
        elif (i + 1) % 10 == 0:
            say(f"  healthy {i + 1}/{bakes}: {false_rollbacks} false rollbacks so far")
    return false_rollbacks, reasons


def flatten(prefix: str, result: dict) -> dict:
    keys = ("rate", "s_p50", "s_max", "measured_shift_p50", "measured_shift_min", "measured_shift_max")
    keys += ("checked_shift_p50", "checked_shift_min", "checked_shift_max", "setting")
    names = {"rate": "detect_rate", "s_p50": "detect_s_p50", "s_max": "detect_s_max"}
    return {f"{prefix}_{names.get(k, k)}": result[k] for k in keys if k in result}


def row_set(bench: Bench, args, rows: list[tuple[str, Row]], healthy_bakes: int, prefix: str, streams: bool) -> dict:
    """Bake ``rows`` and ``healthy_bakes`` healthy deployments under client load on ``bench``'s model
    (streams when ``streams``); the report's healthy keys start with ``prefix``."""
    with ClientLoad(
        bench.endpoint.http_url,
        bench.golden_path,
        threads=args.load_threads,
        max_seconds=6 * 3600,
        grpc_url=bench.endpoint.grpc_url if streams else None,
    ) as load:
        results = {
            name: regressions(bench, row, args.regression_bakes, args.regression_seconds, args.warmup_bakes)
            for name, row in rows
        }
        false_rollbacks, reasons = healthy(bench, healthy_bakes, args.healthy_seconds)
    report = {k: v for name, result in results.items() for k, v in flatten(name, result).items()}
    return report | {
        f"{prefix}healthy_bakes": healthy_bakes,
        f"{prefix}false_rollbacks": false_rollbacks,
        f"{prefix}healthy_failures": reasons[:5],
        f"{prefix}first_reasons": {name: result["first_reason"] for name, result in results.items()},
        f"{prefix}client_requests": load.requests,
    }


def unary_rows(bench: Bench, args) -> dict:
    # ms of idle-core compute over a ~1 ms answer: warm-ups correct it, then a window of 5 checks holds it
    extra = Knob(value=0.4 * 1.0, target=TARGET_SHIFT, max_step=1.25, window=5)
    rows = [
        ("latency", Row("latency +40%", [2, 5], {}, ("slow_extra_latency_ms", extra), check_pairs=args.check_pairs)),
        ("errors2", Row("errors 2%", [2, 6], {})),
        ("errors10", Row("errors 10%", [2, 4], {})),
    ]
    chosen = [(name, row) for name, row in rows if name in args.unary_rows.split(",")]
    return row_set(bench, args, chosen, args.healthy_bakes, "", streams=False)


def stream_rows(bench: Bench, args) -> dict:
    share = Knob(value=TARGET_SHIFT, target=TARGET_SHIFT)
    rows = [
        ("stream_first_response", Row("first response +40%", [2, 5], {}, ("slow_first_share", share))),
        # the client load reaches v4 too: warm for 60 streams so the smoke test passes, as in staging
        ("stream_errors", Row("streams breaking 30%", [2, 4], {"flaky_healthy_requests": "60"})),
    ]
    return row_set(bench, args, rows, args.stream_healthy_bakes, "stream_", streams=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="unary,stream", help="unary, stream or both (comma-separated)")
    parser.add_argument("--unary-rows", default="latency,errors2,errors10", help="which unary regressions to bake")
    parser.add_argument("--healthy-bakes", type=int, default=100, help="0: no healthy unary bakes")
    parser.add_argument("--stream-healthy-bakes", type=int, default=100)
    parser.add_argument("--healthy-seconds", type=float, default=8.0)
    parser.add_argument("--regression-bakes", type=int, default=20)
    parser.add_argument("--regression-seconds", type=float, default=30.0)
    parser.add_argument("--warmup-bakes", type=int, default=4)
    parser.add_argument("--check-pairs", type=int, default=200, help="paired requests after each unary v5 bake")
    parser.add_argument("--load-threads", type=int, default=2)
    args = parser.parse_args()
    chosen = {r.strip() for r in args.rows.split(",") if r.strip()}
    if not chosen or chosen - {"unary", "stream"}:
        parser.error(f"--rows: {args.rows!r} is not unary, stream or unary,stream; fix: name one or both")
    if not args.unary_rows or set(args.unary_rows.split(",")) - {"latency", "errors2", "errors10"}:
        parser.error(f"--unary-rows: {args.unary_rows!r}; fix: name some of latency,errors2,errors10")

    settings, comparison = BakeSettings(), ComparisonThresholds()
    say("starting a production Triton …")
    started, report = time.monotonic(), {}
    with (
        tempfile.TemporaryDirectory(prefix="changeflow-bench-detect-") as scratch,
        TritonServer(
            paths.MODEL_REPOSITORY,
            name="bench-detect",
            copy_repository=True,
            workdir=Path(scratch),
            load_models=[UNARY, STREAM],
        ) as server,
    ):
        endpoint = ServerEndpoint(
            name="production", http_url=server.http_url, metrics_url=server.metrics_url, grpc_url=server.grpc_url
        )
        configs = LocalConfigStore(server.repository)
        for row_set, model, rows in (("unary", UNARY, unary_rows), ("stream", STREAM, stream_rows)):
            if row_set in chosen:
                bench = Bench(endpoint, model, configs.read_config(model), settings, comparison)
                report |= rows(bench, args)
    report |= {
        "rows": sorted(chosen),
        "unary_rows": args.unary_rows,
        "regression_bakes_each": args.regression_bakes,
        "warmup_bakes": args.warmup_bakes,
        "target_shift": TARGET_SHIFT,
        "interval_s": settings.interval_s,
        "probes_per_sample": settings.probes_per_sample,
        "confidence": comparison.confidence,
        "latency_confidence": comparison.latency_confidence,
        "latency_effect": comparison.latency_effect,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
