"""A process type's version as BPMN 2.0 (processes/bpmn.py writes the file): its own chain, not
the generic flow that runs it. Each stage is a user task of its candidate group, behind a gateway
when it has a condition; its reminder and escalation levels are non-interrupting timer boundaries
with the SLA's durations; a rejection at any stage ends the request."""

from __future__ import annotations

from typing import Any

from processes.bpmn import BpmnBoundary, BpmnEdge, BpmnGraph, BpmnNode, bpmn_xml, iso_duration
from processes.catalog.selectors import version_fields
from processes.policies.models import PolicyVersion
from processes.policies.selectors import policy_chain_stages


def version_graph(version: PolicyVersion) -> BpmnGraph:
    process_type = version.policy.process_type
    fields = ", ".join(f"{field.label} ({field.get_kind_display()})" for field in version_fields(version.pk))
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
        boundaries += _deadlines(stage, task, nodes)
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


def _deadlines(stage: Any, task: str, nodes: list[BpmnNode]) -> list[BpmnBoundary]:
    """The stage's reminder and escalation levels: timers on its task, counted from its start."""
    boundaries = []
    if stage.reminder_before is not None and stage.sla:
        reminder = f"{task}_remind"
        nodes.append(BpmnNode(reminder, "task", "Remind"))
        boundaries.append(
            BpmnBoundary(
                f"{task}_reminder",
                task,
                "Reminder",
                target=reminder,
                timer=iso_duration(stage.sla - stage.reminder_before),
            )
        )
    for level in sorted(stage.levels.all(), key=lambda level: level.order):
        action = f"{task}_level_{level.order}"
        nodes.append(
            BpmnNode(action, "task", f"Escalation level {level.order}: {level.get_action_display()}")
        )
        boundaries.append(
            BpmnBoundary(
                f"{task}_escalation_{level.order}",
                task,
                f"Escalation level {level.order}",
                target=action,
                timer=iso_duration(stage.sla + level.after),
            )
        )
    return boundaries


def version_bpmn(version: PolicyVersion) -> bytes:
    return bpmn_xml(version_graph(version))


def version_bpmn_filename(version: PolicyVersion) -> str:
    return f"{version.policy.process_type.slug}-v{version.number}.bpmn"
