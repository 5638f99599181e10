"""A process type's version as BPMN 2.0 (processes/bpmn.py writes the file): its own chain, not
the generic flow that runs it. Each stage is a user task of its candidate group, behind a gateway
when it has a condition; its reminder and escalation levels are non-interrupting timer boundaries
with the SLA's durations; a rejection at any stage ends the request."""

from __future__ import annotations

from typing import Any

from processes.bpmn import BpmnBoundary, BpmnEdge, BpmnGraph, BpmnNode, bpmn_svg, bpmn_xml, iso_duration
from processes.catalog.selectors import version_fields
from processes.policies.models import PolicyVersion
from processes.policies.selectors import policy_chain_stages


def version_graph(version: PolicyVersion, *, deadline_steps: bool = True) -> BpmnGraph:
    """`deadline_steps`: draw what each reminder and escalation level does as a task of its own
    (the export); without, the timers stay on their stage's task (a request's page)."""
    process_type = version.policy.process_type
    fields = ", ".join(f"{field.label} ({field.get_kind_display()})" for field in version_fields(version))
    nodes = [
        BpmnNode("submitted", "startEvent", f"{process_type.name} submitted", documentation=f"Form: {fields}")
    ]
    edges: list[BpmnEdge] = []
    boundaries: list[BpmnBoundary] = []
    # The flows that lead on to whatever comes next: (source, name, is its source's default).
    onward: list[tuple[str, str, bool]] = [("submitted", "", False)]
    for stage in policy_chain_stages(version.pk):
        task, decided = f"stage_{stage.order}", f"stage_{stage.order}_decided"
        condition = stage.condition.strip()
        entry = f"stage_{stage.order}_applies" if condition else task
        edges += [BpmnEdge(source, entry, name, default=default) for source, name, default in onward]
        if condition:
            nodes.append(BpmnNode(entry, "exclusiveGateway", f"{stage.name}?"))
            edges.append(BpmnEdge(entry, task, "yes", condition=condition))
        nodes += [
            BpmnNode(
                task,
                "userTask",
                f"{stage.name} ({stage.group_name})",
                documentation=f"SLA {stage.sla}; candidates: group {stage.group_name}",
            ),
            BpmnNode(decided, "exclusiveGateway", "Approved?"),
        ]
        edges += [BpmnEdge(task, decided), BpmnEdge(decided, "rejected", "no", condition="rejected")]
        boundaries += _deadlines(stage, task, nodes if deadline_steps else None)
        onward = [(decided, "yes", True)] + ([(entry, "no", True)] if condition else [])
    edges += [BpmnEdge(source, "approved", name, default=default) for source, name, default in onward]
    nodes += [BpmnNode("approved", "endEvent", "Approved"), BpmnNode("rejected", "endEvent", "Rejected")]
    return BpmnGraph(
        process_id=f"catalog_{process_type.slug.replace('-', '_')}_v{version.number}",
        name=f"{process_type.name} v{version.number}",
        nodes=tuple(nodes),
        edges=tuple(edges),
        boundaries=tuple(boundaries),
        documentation=process_type.description,
    )


def _deadlines(stage: Any, task: str, nodes: list[BpmnNode] | None) -> list[BpmnBoundary]:
    """The stage's reminder and escalation levels: timers on its task, counted from its start,
    each leading to a task saying what it does when `nodes` takes them (else no target)."""
    boundaries = []
    if stage.reminder_before is not None and stage.sla:
        reminder = f"{task}_remind"
        if nodes is not None:
            nodes.append(BpmnNode(reminder, "task", "Remind"))
        boundaries.append(
            BpmnBoundary(
                f"{task}_reminder",
                task,
                "Reminder",
                target=reminder if nodes is not None else None,
                timer=iso_duration(stage.sla - stage.reminder_before),
            )
        )
    for level in sorted(stage.levels.all(), key=lambda level: level.order):
        action = f"{task}_level_{level.order}"
        if nodes is not None:
            nodes.append(
                BpmnNode(action, "task", f"Escalation level {level.order}: {level.get_action_display()}")
            )
        boundaries.append(
            BpmnBoundary(
                f"{task}_escalation_{level.order}",
                task,
                f"Escalation level {level.order}",
                target=action if nodes is not None else None,
                timer=iso_duration(stage.sla + level.after),
            )
        )
    return boundaries


# A stage task's status -> its mark on the diagram (processes.bpmn.MARK_FILLS).
_TASK_MARKS = {"NEW": "new", "ASSIGNED": "assigned", "STARTED": "assigned", "DONE": "done", "ERROR": "error"}


def request_diagram_svg(process: Any) -> str:
    """A request's "where it is": its pinned version's chain, the stages it reached coloured by
    their tasks (one query), the end it reached marked done."""
    marks = {"submitted": "done"}
    tasks = process.task_set.filter(flow_task_type="HUMAN").order_by("pk").values_list("data", "status")
    for data, status in tasks:
        if (data or {}).get("stage"):
            marks[f"stage_{data['stage']}"] = _TASK_MARKS.get(status, "")
    if process.finished is not None and process.approved is not None:
        marks["approved" if process.approved else "rejected"] = "done"
    return bpmn_svg(version_graph(process.version, deadline_steps=False), marks)


def version_bpmn(version: PolicyVersion) -> bytes:
    return bpmn_xml(version_graph(version))


def version_bpmn_filename(version: PolicyVersion) -> str:
    return f"{version.policy.process_type.slug}-v{version.number}.bpmn"
