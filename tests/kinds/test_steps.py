"""For every registered kind, the steps its flow can record are the steps its plan lists: what approvers
read is what the record shows afterwards.

Recording happens at run time against Triton and Kubernetes, so the steps are read statically: from the
kind's flow and its restore, every function of ``changeflow.tasks`` or ``changeflow.flows`` they call (a
Prefect task is followed to its function) is read with ``ast``, and each ``<recorder>.step(phase, name)``
name resolved: a string, a module constant (``model_deployment.STAGE``), either branch of ``a if c else b``,
or a parameter of the function, resolved from what each call passes (or its default). A name that is none
of these (an f-string, a computed value) fails: a step's name is a constant the plan can list.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from changeflow.flows.kind_flows import flow_of, restore_of

from changeflow.kinds import KINDS, plan_for
from changeflow.settings.loader import load_change_request

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "changes"
FOLLOWED = ("changeflow.tasks", "changeflow.flows")  # where steps are recorded and the calls that reach them
UNKNOWN = object()  # a value not known statically


def examples_by_kind() -> dict[str, list]:
    found = defaultdict(list)
    for path in sorted(EXAMPLES.glob("*.yaml")):
        request = load_change_request(path)
        found[request.kind].append(request)
    return found


EXAMPLES_BY_KIND = examples_by_kind()


def _function(obj) -> Callable | None:
    """The Python function behind a Prefect task or flow, or a plain function; None for anything else."""
    fn = getattr(obj, "fn", obj)
    return fn if inspect.isfunction(fn) else None


def _resolve(node: ast.expr, bound: dict[str, set], env: dict) -> set:
    """What ``node`` may be, statically: a set of values, holding UNKNOWN when it cannot be told."""
    if isinstance(node, ast.Constant):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _resolve(node.body, bound, env) | _resolve(node.orelse, bound, env)
    if isinstance(node, ast.Name) and node.id in bound:
        return bound[node.id]
    dotted = node
    while isinstance(dotted, ast.Attribute):
        dotted = dotted.value
    if isinstance(dotted, ast.Name) and dotted.id in env and dotted.id not in bound:  # a constant, read from its module
        try:
            value = eval(compile(ast.Expression(node), "<step name>", "eval"), dict(env))  # names and attributes only
        except AttributeError:
            return {UNKNOWN}
        return {value} if isinstance(value, (str, int, float, bool, type(None))) else {UNKNOWN}
    return {UNKNOWN}


def _bind(fn: Callable, call: ast.Call, bound: dict[str, set], env: dict) -> dict[str, set]:
    """The callee's parameters, as this call passes them (or their defaults)."""
    parameters = inspect.signature(fn).parameters
    names = list(parameters)
    given: dict[str, set] = {}
    for index, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred) or index >= len(names):
            break
        given[names[index]] = _resolve(arg, bound, env)
    for keyword in call.keywords:
        if keyword.arg is not None:
            given[keyword.arg] = _resolve(keyword.value, bound, env)
    for name, parameter in parameters.items():
        if name not in given:
            given[name] = {parameter.default} if parameter.default is not inspect.Parameter.empty else {UNKNOWN}
    return given


def recorded_steps(fn: Callable, bound: dict[str, set] | None = None, seen: set | None = None) -> Iterator[tuple]:
    """(possible names, where) of every step ``fn`` records, itself or through the functions it calls."""
    bound, seen = bound or {}, seen if seen is not None else set()
    key = (fn, tuple(sorted((k, tuple(sorted(map(repr, v)))) for k, v in bound.items())))
    if key in seen:
        return
    seen.add(key)
    env, where = fn.__globals__, f"{inspect.getsourcefile(fn)}:{fn.__name__}"
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(fn)))):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr == "step":  # Recorder.step(phase, name)
            named = [k.value for k in node.keywords if k.arg == "name"]
            name = node.args[1] if len(node.args) > 1 else next(iter(named), None)
            if name is not None:
                yield _resolve(name, bound, env), f"{where} ({ast.unparse(name)})"
                continue
        callee = _callee(node.func, env)
        if callee is not None and callee.__module__.startswith(FOLLOWED):
            yield from recorded_steps(callee, _bind(callee, node, bound, env), seen)


def _callee(func: ast.expr, env: dict) -> Callable | None:
    if isinstance(func, ast.Name) and func.id in env:
        return _function(env[func.id])
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        module = env.get(func.value.id)
        return _function(getattr(module, func.attr, None)) if inspect.ismodule(module) else None
    return None


def steps_of(kind) -> dict[str, str]:
    """Every step name the kind's flow and restore can record, with where."""
    return steps_in(flow_of(kind), restore_of(kind))


def steps_in(*entries: Callable) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in entries:
        for names, where in recorded_steps(_function(entry)):
            for name in names:
                if name is UNKNOWN or not isinstance(name, str):
                    raise AssertionError(f"{where}: a step's name must be a constant the plan can list")
                found.setdefault(name, where)
    return found


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_step_the_flow_records_is_planned_and_every_planned_step_recorded(name):
    kind = KINDS[name]
    assert EXAMPLES_BY_KIND[name], (
        f"no example request of kind {name} in {EXAMPLES}: add one (the docs and this test plan it)"
    )
    recorded = steps_of(kind)
    for request in EXAMPLES_BY_KIND[name]:
        plan = plan_for(request)
        planned = {s.name for s in plan.execution_steps + plan.verification_steps + plan.rollback_steps}
        unplanned = {step: where for step, where in recorded.items() if step not in planned}
        assert not unplanned, f"{name} records steps its plan does not list: {unplanned}"
        assert planned <= set(recorded), f"{name} plans steps its flow never records: {sorted(planned - set(recorded))}"


def test_the_reader_follows_a_parameter_to_what_each_flow_passes():
    """The shared bake is named per kind: the model deployment's default, blue-green's own."""
    assert "monitor" in steps_of(KINDS["model_deployment"]) and "bake" not in steps_of(KINDS["model_deployment"])
    assert "bake" in steps_of(KINDS["blue_green"]) and "monitor" not in steps_of(KINDS["blue_green"])


def test_a_step_name_that_is_not_a_constant_fails():
    def flow():
        run.step("execution", f"wait_{flow}")  # noqa: F821 (read, never run)

    with pytest.raises(AssertionError, match="must be a constant"):
        steps_in(flow)
