"""Benchmark: the walk of one live normal model deployment, from its YAML to its closed record, counted in
changeflow modules. Measured, not read: the modules whose code ran.

One change, as a team runs it: a local Prefect server with the change deployments and one guarded worker
holding the executor's configuration, production and staging Tritons under light client traffic, the
team's record database already at head; ``changeflow submit examples/changes/normal-deploy-v2.yaml
--environment FILE`` (a subprocess; FILE the requester's own environment file) creates the run and follows
it, ``changeflow approve`` as carol and as dave resumes it, the worker's flow-run process executes it to its
closed record. Every Python process of the walk (the submit command, the two approve commands, the worker
and the flow-run process it starts) runs under ``coverage``, started by a ``sitecustomize`` in a temporary
folder on their ``PYTHONPATH`` (nothing is written into the venv). The Prefect server, the Tritons and
this process are the stage, not the walk: they are not measured.

A module *counts* when the body of one of its functions or methods ran (``ast`` tells body lines from the
module-level lines an import runs: def, class, import, constants; a body run by an import, such as a
decorator's or a registry's discovery, counts too); a module whose only lines run were those is *imported
only*. The functions that ran are printed under each module, so the count can be checked.

    make bench-walk        (or: .venv/bin/python bench/walk.py)

Prints progress, then one JSON line: {"date", "outcome", "seconds", "count", "target", "within_target",
"modules": [{"module", "processes", "role"}], "imported_only_count", "imported_only", "processes": {label: modules run there}, "processes_without_data"}.
``modules`` is in the order met: by process (submit, worker, flow run, approvers), then by the order each
process imported them. Target (#25): ``count`` <= 30.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from changeflow.local.approvers import enrolled_approvers  # noqa: E402
from changeflow.local.client_load import ClientLoad  # noqa: E402
from changeflow.local.triton_server import TritonServer  # noqa: E402
from changeflow.settings import paths  # noqa: E402
from changeflow.settings.environment import Environment, RecordStoreSettings  # noqa: E402
from changeflow.settings.loader import load_governance  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REQUEST = "examples/changes/normal-deploy-v2.yaml"  # CHG-0002: classifier v1 → v2, two CAB members approve
CHANGE_ID = "CHG-0002"
APPROVERS = ("carol", "dave")
POOL = "changeflow-walk"
NIGHT = datetime.fromisoformat(
    "2026-11-25T22:00:00+01:00"
)  # the worker's clock: off-hours, a normal change runs at once
TARGET = 30
# where changeflow's code lives in a checkout: the package, and flows/ and tasks/ (installed as changeflow.flows / .tasks)
SOURCES = {ROOT / "changeflow": "changeflow", ROOT / "flows": "changeflow.flows", ROOT / "tasks": "changeflow.tasks"}
PROCESS_ORDER = ("submit", "worker", "flow run", "approve")

# Started in every measured process: coverage (from COVERAGE_PROCESS_START; coverage's own .pth may have started it
# already, which process_startup() notices), and a note of the process's command line and, at exit, the order its
# changeflow modules were imported (sys.modules keeps insertion order).
SITECUSTOMIZE = """
import atexit, json, os, sys
try:
    import coverage
    coverage.process_startup()
except Exception as error:  # a walk without coverage is no measurement: say so in the note
    print(f"walk: coverage did not start: {error}", file=sys.stderr)
_note = os.path.join(os.environ["CHANGEFLOW_WALK_NOTES"], f"{os.getpid()}.json")
def _write_note():
    roots = tuple(os.environ["CHANGEFLOW_WALK_SOURCES"].split(os.pathsep))
    imported = [m.__file__ for m in list(sys.modules.values()) if (getattr(m, "__file__", None) or "").startswith(roots)]
    with open(_note, "w") as file:
        json.dump({"pid": os.getpid(), "argv": sys.orig_argv, "imported": imported}, file)
_write_note()
atexit.register(_write_note)
"""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ── what ran ────────────────────────────────────────────────────────────────────────────────────────────────────


def module_name(path: Path) -> str | None:
    for folder, package in SOURCES.items():
        if path.is_relative_to(folder):
            parts = path.relative_to(folder).with_suffix("").parts
            return ".".join((package, *parts[:-1])) if parts[-1] == "__init__" else ".".join((package, *parts))
    return None


def body_lines(path: Path) -> dict[int, str]:
    """The lines inside function and method bodies, docstrings left out, each with the qualified name of the
    innermost function it belongs to: what runs only when something is called, never by importing the module.
    A body written on its function's own line (``def tell(self, text: str) -> None: ...``, as in a Protocol)
    cannot be told from the ``def`` an import runs, and is left out."""
    source = path.read_text(encoding="utf-8").splitlines()
    lines: dict[int, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                body = child.body
                if (
                    body
                    and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)
                ):
                    body = body[1:]
                if body:
                    first = body[0].lineno + (1 if source[body[0].lineno - 1][: body[0].col_offset].strip() else 0)
                    lines.update(dict.fromkeys(range(first, child.end_lineno + 1), name))
                visit(child, f"{name}.")  # nested functions overwrite their lines with their own name
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse("\n".join(source), filename=str(path)), "")
    return lines


def role(path: Path) -> str:
    """The module docstring's first line, to its first full stop."""
    text = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first = " ".join(text.strip().split("\n\n")[0].split())
    first = re.split(r"(?<=[a-z)`])\. ", first)[0].rstrip(".")
    return first if len(first) <= 140 else first[:137] + "…"


def process_label(argv: list[str]) -> str:
    if "-m" in argv:
        module = argv[argv.index("-m") + 1]
        return {"prefect.engine": "flow run", "changeflow.adapters.prefect_worker": "worker"}.get(module, module)
    if len(argv) > 2 and Path(argv[1]).name == "changeflow":
        return (
            " ".join([argv[2], *argv[argv.index("--approver") + 1 : argv.index("--approver") + 2]])
            if "--approver" in argv
            else argv[2]
        )
    return " ".join(Path(a).name for a in argv[:3])


def measured(walk: Path) -> tuple[dict[str, dict], list[str]]:
    """Per process (label → {"lines": {file: lines}, "imported": [files]}), from coverage's data files (named
    .coverage.HOST.pidPID.XRANDOMx) and the notes; and the processes that left a note but no data."""
    from coverage import CoverageData

    notes = {int(p.stem): json.loads(p.read_text()) for p in (walk / "notes").glob("*.json")}
    processes: dict[str, dict] = {}
    for data_file in sorted(walk.glob(".coverage.*")):
        pid = int(re.search(r"\.pid(\d+)\.", data_file.name).group(1))
        data = CoverageData(basename=str(data_file))
        data.read()
        note = notes.pop(pid, {"argv": [f"pid {pid}"], "imported": []})
        label = process_label(note["argv"])
        entry = processes.setdefault(label, {"lines": {}, "imported": []})
        for file in data.measured_files():
            entry["lines"].setdefault(file, set()).update(data.lines(file) or ())
        entry["imported"] += [f for f in note["imported"] if f not in entry["imported"]]
    return processes, [process_label(n["argv"]) for n in notes.values()]


def walk_modules(processes: dict[str, dict]) -> dict:
    def rank(label: str) -> int:
        return next((i for i, name in enumerate(PROCESS_ORDER) if label.startswith(name)), len(PROCESS_ORDER))

    ran: dict[str, dict] = {}  # module → {"path", "processes", "order"}
    imported: dict[str, Path] = {}
    for label in sorted(processes, key=lambda k: (rank(k), k)):
        entry = processes[label]
        order = {f: i for i, f in enumerate(entry["imported"])}
        for file in sorted(entry["lines"], key=lambda f: order.get(f, len(order))):
            path = Path(file)
            name = module_name(path)
            if name is None or not path.is_file():
                continue
            imported.setdefault(name, path)
            bodies = body_lines(path)
            if functions := {bodies[line] for line in entry["lines"][file] if line in bodies}:
                module = ran.setdefault(name, {"path": path, "processes": [], "functions": set(), "order": len(ran)})
                module["processes"].append(label)
                module["functions"] |= functions
    modules = [
        {"module": name, "processes": m["processes"], "role": role(m["path"]), "functions": sorted(m["functions"])}
        for name, m in sorted(ran.items(), key=lambda kv: kv[1]["order"])
    ]
    only = sorted(set(imported) - set(ran))
    return {"modules": modules, "imported_only": only}


# ── the walk ────────────────────────────────────────────────────────────────────────────────────────────────────


def coverage_setup(scratch: Path) -> tuple[Path, dict[str, str]]:
    """The coverage configuration, the sitecustomize folder, and the variables a measured process starts with."""
    walk = scratch / "walk"
    (walk / "notes").mkdir(parents=True)
    (walk / "site").mkdir()
    (walk / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    rc = walk / "coveragerc"
    rc.write_text(
        "[run]\nparallel = true\nsigterm = true\n"
        f"data_file = {walk / '.coverage'}\nsource =\n" + "".join(f"    {folder}\n" for folder in SOURCES),
        encoding="utf-8",
    )
    pythonpath = os.pathsep.join(p for p in (str(walk / "site"), os.environ.get("PYTHONPATH", "")) if p)
    return walk, {
        "COVERAGE_PROCESS_START": str(rc),
        "PYTHONPATH": pythonpath,
        "CHANGEFLOW_WALK_NOTES": str(walk / "notes"),
        "CHANGEFLOW_WALK_SOURCES": os.pathsep.join(str(f) for f in SOURCES),
    }


def cli(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "changeflow"), *args]


def run_walk(scratch: Path, measure: dict[str, str]) -> dict:
    """Start the stage, submit the change and approve it as a team does; returns the submit command's result."""
    import yaml
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from changeflow.adapters.sql_migrate import upgrade
    from changeflow.local.executor import executor_configuration
    from changeflow.local.prefect_server import LocalPrefectServer
    from changeflow.local.serve import deploy_change_flows, start_worker

    records_url = f"sqlite:///{scratch / 'records.db'}"
    (scratch / "prefect").mkdir()
    say("starting production and staging Tritons and a Prefect server …")
    with (
        TritonServer(
            paths.MODEL_REPOSITORY, name="walk-production", copy_repository=True, load_models=["classifier"]
        ) as production,
        TritonServer(paths.MODEL_REPOSITORY, name="walk-staging", copy_repository=True) as staging,
        LocalPrefectServer(home=scratch / "prefect") as prefect,
        temporary_settings(updates={PREFECT_API_URL: prefect.api_url}),
    ):
        environment = Environment(
            production=production.endpoint("production"),
            staging=staging.endpoint("staging"),
            records=RecordStoreSettings(url=records_url),
        )
        governance = load_governance(paths.EXAMPLES, approval_timeout_s=300, approval_poll_s=1)
        configuration = executor_configuration(scratch / "executor", environment, governance, {"normal": NIGHT})
        deploy_change_flows(safety_net_every_s=None, pool=POOL, drift_every_s=None)
        # the requester's own environment file (what `changeflow serve` writes for a team): servers and the record database
        requester = scratch / "requester" / "environment.yaml"
        requester.parent.mkdir()
        requester.write_text(yaml.safe_dump(environment.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
        upgrade(
            records_url
        )  # the team's record database, already at head (`changeflow records migrate`): no migration in the walk
        team = {
            **os.environ,
            **prefect.client_env,
            "CHANGEFLOW_ENVIRONMENT": str(requester),
            "CHANGEFLOW_RECORDS_URL": records_url,
        }
        say(f"deployed the change flows to work pool {POOL}; starting the guarded worker and the measured walk …")
        (scratch / "worker-tmp").mkdir()
        worker = start_worker(
            POOL, scratch / "worker-tmp", {**os.environ, **configuration, **prefect.client_env, **measure}
        )
        submitted = None
        try:
            with ClientLoad(production.http_url, paths.GOLDEN / "classifier.json", threads=1, pause_s=0.01) as load:
                with open(scratch / "submit.out", "w") as out, open(scratch / "submit.err", "w") as err:
                    submitted = subprocess.Popen(
                        cli("submit", REQUEST, "--environment", str(requester), "--json"),
                        cwd=ROOT,
                        env={**team, **measure},
                        stdout=out,
                        stderr=err,
                    )
                    for approver in APPROVERS:
                        sent = subprocess.run(
                            cli(
                                "approve",
                                CHANGE_ID,
                                "--approver",
                                approver,
                                "--comment",
                                f"{approver}: walk",
                                "--wait",
                                "180",
                            ),
                            cwd=ROOT,
                            env={**team, **measure},
                            capture_output=True,
                            text=True,
                            timeout=240,
                        )
                        say(
                            f"  {approver}: {(sent.stdout or sent.stderr).strip().splitlines()[-1] if (sent.stdout or sent.stderr).strip() else sent.returncode}"
                        )
                    code = submitted.wait(timeout=600)
            say(f"  client load: {load.requests} requests, {len(load.failures)} failed")
        finally:
            if submitted is not None and submitted.poll() is None:
                submitted.kill()
            stop_worker(worker, scratch / "walk")
    lines = (scratch / "submit.out").read_text().strip().splitlines()
    if code != 0 or not lines:
        say((scratch / "submit.err").read_text()[-3000:])
    result = json.loads(lines[-1]) if lines else {}
    return {"exit_code": code, **result}


def stop_worker(worker: subprocess.Popen, walk: Path) -> None:
    """Let the flow-run process write its coverage (it exits after its run ends), then stop the worker gently
    (SIGTERM: it stops polling and exits, writing its own)."""
    deadline = time.monotonic() + 60
    while (
        time.monotonic() < deadline
        and len(list(walk.glob(".coverage.*"))) < len(list((walk / "notes").glob("*.json"))) - 1
    ):
        time.sleep(0.5)  # every note but the worker's own has its data file
    worker.terminate()
    try:
        worker.wait(60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def main() -> None:
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="changeflow-walk-"))
    try:
        walk, measure = coverage_setup(scratch)
        with enrolled_approvers(list(APPROVERS), executor=False):
            result = run_walk(scratch, measure)
        processes, without_data = measured(walk)
        found = walk_modules(processes)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    say(
        f"\n{result.get('change_id', CHANGE_ID)}: {result.get('state')} (submit exit {result.get('exit_code')}) in {time.monotonic() - started:.0f} s"
    )
    for number, module in enumerate(found["modules"], 1):
        say(f"{number:3d}  {module['module']:45s} {', '.join(module['processes']):32s} {module['role']}")
        say(f"       ran: {', '.join(module.pop('functions'))}")
    say(f"imported only ({len(found['imported_only'])}): {', '.join(found['imported_only'])}")
    if without_data:
        say(f"processes that wrote no coverage data: {', '.join(without_data)}")
    count = len(found["modules"])
    print(
        json.dumps(
            {
                "date": date.today().isoformat(),
                "outcome": result.get("state"),
                "submit_exit_code": result.get("exit_code"),
                "seconds": round(time.monotonic() - started),
                "count": count,
                "target": TARGET,
                "within_target": count <= TARGET,
                "modules": found["modules"],
                "imported_only_count": len(found["imported_only"]),
                "imported_only": found["imported_only"],
                "processes": {
                    label: sum(1 for m in found["modules"] if label in m["processes"]) for label in sorted(processes)
                },
                "processes_without_data": without_data,
            }
        )
    )
    if result.get("state") != "closed":
        sys.exit(1)


if __name__ == "__main__":
    main()
