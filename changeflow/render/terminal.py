"""Rich renderings of changeflow's typed values for the terminal."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from changeflow.domain.policy import ChangePlan
from changeflow.domain.request import PlannedStep


def _steps_table(title: str, steps: tuple[PlannedStep, ...]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    table.add_column("#", style="dim", width=3)
    table.add_column("step", style="bold cyan", no_wrap=True)
    table.add_column("action")
    for number, step in enumerate(steps, 1):
        table.add_row(str(number), step.name, Text(step.action))
    return table


def plan_panel(plan: ChangePlan) -> Panel:
    approvals = (
        "none at run time (pre-approved standard change)"
        if plan.approvals_required == 0
        else f"{plan.approvals_required} from {plan.approval_pool.value.replace('_', ' ')}"
    )
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("change", f"{plan.change_id} ({plan.type.value} {plan.kind})")
    summary.add_row("model", plan.model)
    summary.add_row("risk", plan.risk.value)
    summary.add_row("approvals", approvals)
    summary.add_row("windows", ", ".join(w.value.replace("_", " ") for w in plan.windows))
    if plan.post_implementation_review:
        summary.add_row("review", "post-implementation review required before closing")
    summary.add_row("touches", Text("\n".join(plan.touches)))
    summary.add_row("rollback plan", Text(plan.rollback_plan))
    for warning in plan.warnings:
        summary.add_row("[bold yellow]warning[/]", Text(warning))
    body = Group(
        summary,
        _steps_table("\nexecution", plan.execution_steps),
        _steps_table("\nverification", plan.verification_steps),
        _steps_table("\nrollback", plan.rollback_steps),
    )
    return Panel(body, title=f"plan of {plan.change_id} (dry run: nothing touched)", expand=False)


def demo_table(report) -> Group:
    table = Table(title="changeflow demo", title_justify="left")
    for column in (
        "change",
        "type",
        "kind",
        "model",
        "outcome",
        "before",
        "after",
        "rollback ms",
        "requests",
        "failed",
    ):
        table.add_column(column)
    for c in report.changes:
        rollback = f"{c.rollback_ms:.1f}" if c.rollback_ms is not None else "-"
        table.add_row(
            c.id,
            c.type,
            c.kind,
            c.model,
            c.outcome,
            str(c.serving_version_before or "-"),
            str(c.serving_version_after or "-"),
            rollback,
            str(c.requests),
            str(c.failed_requests),
        )
    footer = Text(
        f"Triton {report.triton_version} · Prefect {report.prefect_version} at {report.prefect_api_url} · "
        f"{report.incident_events_received} change events sent to incident management"
    )
    return Group(table, footer)
