"""BPMN 2.0 export with diagram interchange, for every process type.

A process type is described as a `BpmnGraph`: its nodes (events, tasks, gateways), the sequence
flows between them, and the boundary events on its tasks. `bpmn_xml(graph)` writes it as one
BPMN 2.0 file: a `<definitions>` with the `<process>` and a `<bpmndi:BPMNDiagram>` that gives
every node and boundary event a shape and every flow an edge with waypoints, laid out left to
right. The file validates against the OMG BPMN 2.0 XSD (tests/processes/test_bpmn.py) and opens
in bpmn.io (tests/e2e/test_bpmn_viewer.py).

Where the graph comes from:

- a code-defined process (a viewflow `Flow` class): `flow_graph(flow_class)` reads the nodes
  viewflow built, with the BPMN element viewflow gives each one (`bpmn_element`,
  `bpmn_content()`), the If/Switch branches with their conditions, and the boundary events that
  `.OnTimeout`, `.OnError` and `.CompensateWith` declared (processes/nodes/deadline.py);
  `flow_bpmn(flow_class)` is both steps in one;
- a process type defined as data builds its `BpmnGraph` from one version of its definition and
  calls `bpmn_xml`.

Why not viewflow's own export (`chart.grid_to_bpmn`, behind the chart's `?format=bpmn`): it
renders a template over the chart's grid, drops the timer and error boundaries' sequence flows,
carries no conditions or default flows, and is not checked against the schema. This module keeps
viewflow's node metadata and replaces the writer and the layout. The process type's diagram page
(processes/pages.py `ProcessChartView`) serves this export for `?format=bpmn`.

The output is deterministic: the same graph gives byte-identical XML (no clocks, no random ids,
integer coordinates).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise
from typing import Any

from django.utils.encoding import force_str

MODEL_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
#: The `targetNamespace` of every exported file (BPMN requires one; it names the exporter).
TARGET_NS = "urn:approvals-portal:processes"
EXPORTER = "Approvals Portal"

TASK_KINDS = frozenset(
    {
        "task",
        "userTask",
        "serviceTask",
        "scriptTask",
        "sendTask",
        "receiveTask",
        "manualTask",
        "businessRuleTask",
    }
)
GATEWAY_KINDS = frozenset(
    {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "complexGateway", "eventBasedGateway"}
)
#: The event definitions each kind of event may carry (BPMN 2.0, table 10.84 and 10.93, less the
#: ones that need an event subprocess).
EVENT_DEFINITIONS: dict[str, frozenset[str]] = {
    "startEvent": frozenset({"message", "timer", "signal", "conditional"}),
    "endEvent": frozenset({"message", "signal", "error", "escalation", "terminate", "compensate"}),
    "intermediateCatchEvent": frozenset({"message", "timer", "signal", "conditional"}),
    "intermediateThrowEvent": frozenset({"message", "signal", "escalation", "compensate"}),
    "boundaryEvent": frozenset(
        {"message", "timer", "signal", "error", "escalation", "compensate", "conditional"}
    ),
}
NODE_KINDS = TASK_KINDS | GATEWAY_KINDS | (EVENT_DEFINITIONS.keys() - {"boundaryEvent"})
# Sources whose outgoing flows may name one of them their `default`.
_DEFAULT_FLOW_SOURCES = TASK_KINDS | {"exclusiveGateway", "inclusiveGateway", "complexGateway"}

_NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")
# Characters XML 1.0 does not allow at all (lone surrogates included): dropped from any text.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# ---------------------------------------------------------------- the graph


@dataclass(frozen=True)
class BpmnNode:
    """A flow node.

    `kind` is the BPMN element: a task (`userTask`, `serviceTask`, `scriptTask`, `task`, ...), a
    gateway (`exclusiveGateway`, `parallelGateway`, ...) or an event (`startEvent`, `endEvent`,
    `intermediateCatchEvent`, `intermediateThrowEvent`). An event may carry one event definition,
    `event`: "message" (a wait for a message is an `intermediateCatchEvent` with "message"),
    "timer", "signal", "error", "escalation", "terminate", "compensate" or "conditional". A timer
    event's `timer` is an ISO 8601 expression: a duration ("P2D", "PT30M"), a repetition
    ("R/PT1H") or a moment ("2026-12-24T18:00:00+01:00"); empty: none is stated.
    """

    id: str
    kind: str
    name: str
    documentation: str = ""
    event: str = ""
    timer: str = ""


@dataclass(frozen=True)
class BpmnEdge:
    """A sequence flow from node `source` to node `target` (or from a boundary event's id).

    `condition` becomes its `<conditionExpression xsi:type="tFormalExpression">`; `default`
    makes it its source's default flow (the gateway or task names it in `default`).
    """

    source: str
    target: str
    name: str = ""
    condition: str = ""
    default: bool = False


@dataclass(frozen=True)
class BpmnBoundary:
    """A boundary event on the task `attached_to`, with a sequence flow to `target` if given.

    `event` is its definition: "timer" (with `timer` an ISO 8601 expression, as on `BpmnNode`,
    or empty when the moment is computed at run time), "error", "escalation", "message",
    "signal", "conditional", or "compensate": then `target` is the compensation handler, linked
    by an association instead of a sequence flow, and marked `isForCompensation`. `interrupting`
    is its `cancelActivity` (an error boundary always interrupts).
    """

    id: str
    attached_to: str
    name: str
    target: str | None = None
    event: str = "timer"
    timer: str = ""
    interrupting: bool = False
    documentation: str = ""


@dataclass(frozen=True)
class BpmnGraph:
    """One process type (or one version of it): what `bpmn_xml` writes.

    Ids (`process_id`, the nodes' and the boundaries') must be ASCII XML NCNames
    (`[A-Za-z_][A-Za-z0-9._-]*`; `ncname()` makes one from any text) and unique together; the
    ids of flows, shapes and the diagram are derived from them. Node order decides ties in the
    layout, so list the start events first.
    """

    process_id: str
    name: str
    nodes: tuple[BpmnNode, ...]
    edges: tuple[BpmnEdge, ...]
    boundaries: tuple[BpmnBoundary, ...] = ()
    documentation: str = ""


def ncname(text: str) -> str:
    """`text` as an ASCII XML NCName: other characters become `_`, and a leading digit, dot or
    hyphen gets a `_` in front. Two texts may map to one name: keep ids unique yourself."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", text)
    return name if name and _NCNAME.fullmatch(name) else f"_{name}"


def iso_duration(delta: timedelta) -> str:
    """`delta` as an ISO 8601 duration ("P2D", "PT30M", "P1DT2H0.5S"); zero is "PT0S"."""
    if delta < timedelta(0):
        raise ValueError(f"A duration cannot be negative: {delta}")
    seconds = delta.seconds + delta.microseconds / 1_000_000
    hours, rest = divmod(int(seconds), 3600)
    minutes, whole = divmod(rest, 60)
    fraction = seconds - int(seconds)
    text = "P" + (f"{delta.days}D" if delta.days else "")
    clock = ""
    if hours:
        clock += f"{hours}H"
    if minutes:
        clock += f"{minutes}M"
    if fraction:
        clock += f"{whole + fraction:.6f}".rstrip("0") + "S"
    elif whole:
        clock += f"{whole}S"
    if clock:
        text += "T" + clock
    return text if text != "P" else "PT0S"


# ---------------------------------------------------------------- checks


@dataclass(frozen=True)
class _Flow:
    """A sequence flow or a compensation association, after the checks."""

    id: str
    source: str  # a node or boundary id
    target: str
    name: str
    condition: str
    default: bool
    association: bool = False


def _check(graph: BpmnGraph) -> None:
    """Refuse a graph that would not be valid BPMN, naming the first problem."""
    ids = [graph.process_id] + [n.id for n in graph.nodes] + [b.id for b in graph.boundaries]
    for value in ids:
        if not _NCNAME.fullmatch(value):
            raise ValueError(f"{value!r} is not an ASCII XML NCName (use bpmn.ncname())")
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise ValueError(f"Two elements have the id {value!r}")
        seen.add(value)
    nodes = {n.id: n for n in graph.nodes}
    for node in graph.nodes:
        if node.kind not in NODE_KINDS:
            raise ValueError(f"{node.id}: unknown kind {node.kind!r}")
        _check_event(node.id, node.kind, node.event, node.timer)
    for boundary in graph.boundaries:
        host = nodes.get(boundary.attached_to)
        if host is None or host.kind not in TASK_KINDS:
            raise ValueError(f"{boundary.id}: attached to {boundary.attached_to!r}, which is not a task")
        _check_event(boundary.id, "boundaryEvent", boundary.event, boundary.timer)
        if boundary.event == "error" and not boundary.interrupting:
            raise ValueError(f"{boundary.id}: an error boundary event always interrupts")
        if boundary.target is not None and boundary.target not in nodes:
            raise ValueError(f"{boundary.id}: unknown target {boundary.target!r}")
        if (
            boundary.event == "compensate"
            and boundary.target
            and nodes[boundary.target].kind not in TASK_KINDS
        ):
            raise ValueError(f"{boundary.id}: a compensation handler must be a task")
    sources = nodes.keys() | {b.id for b in graph.boundaries if b.event != "compensate"}
    defaults: set[str] = set()
    for edge in graph.edges:
        if edge.source not in sources:
            raise ValueError(f"A flow starts at {edge.source!r}, which is no node or boundary event")
        if edge.target not in nodes:
            raise ValueError(f"A flow ends at {edge.target!r}, which is no node")
        if edge.default:
            kind = nodes[edge.source].kind if edge.source in nodes else "boundaryEvent"
            if kind not in _DEFAULT_FLOW_SOURCES:
                raise ValueError(f"{edge.source}: a {kind} has no default flow")
            if edge.source in defaults:
                raise ValueError(f"{edge.source}: two default flows")
            defaults.add(edge.source)


def _check_event(element_id: str, kind: str, event: str, timer: str) -> None:
    allowed = EVENT_DEFINITIONS.get(kind)
    if event and (allowed is None or event not in allowed):
        raise ValueError(f"{element_id}: a {kind} cannot carry a {event!r} event definition")
    if timer and event != "timer":
        raise ValueError(f"{element_id}: a timer expression needs the 'timer' event definition")


class _Ids:
    """Derived ids, unique against every id the graph gave and every one derived before."""

    def __init__(self, taken: Iterable[str]) -> None:
        self.taken = set(taken)

    def new(self, wanted: str) -> str:
        candidate, number = ncname(wanted), 1
        while candidate in self.taken:
            number += 1
            candidate = f"{ncname(wanted)}_{number}"
        self.taken.add(candidate)
        return candidate


# ---------------------------------------------------------------- the layout

# Sizes as bpmn.io draws them by default; a task grows to hold its boundary events side by side.
TASK_SIZE = (100, 80)
GATEWAY_SIZE = (50, 50)
EVENT_SIZE = (36, 36)
BOUNDARY_SPACING = 46
MARGIN = 40
COLUMN_GAP = 90
ROW_HEIGHT = 140
LABEL_WIDTH = 90  # bpmn.io wraps external labels at 90 px
LABEL_HEIGHT = 28  # two lines
LOOP_LANE = 12
_SWEEPS = 12


@dataclass
class _Box:
    x: int
    y: int
    width: int
    height: int

    @property
    def cx(self) -> int:
        return self.x + self.width // 2

    @property
    def cy(self) -> int:
        return self.y + self.height // 2

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height


Point = tuple[int, int]


class _Layout:
    """A layered (Sugiyama-style) left-to-right layout.

    Cycles are broken where a depth-first walk from the start events closes them; nodes are
    layered by their longest path from a start; a flow that spans several layers gets a
    placeholder slot on each layer it crosses (so it never runs through a node); each layer is
    ordered by barycenter sweeps, the exception paths (entered from a boundary event) below the
    others; each slot takes a row near its predecessors; then every flow is drawn orthogonally
    through its slots. A flow that goes back (a loop) leaves its source over the top and enters
    its target from above, so it never shares a side with the forward flows.
    """

    def __init__(self, graph: BpmnGraph, flows: Sequence[_Flow]) -> None:
        self.kind = {n.id: n.kind for n in graph.nodes}
        self.order = {n.id: i for i, n in enumerate(graph.nodes)}
        self.host = {b.id: b.attached_to for b in graph.boundaries}
        self.boundaries_of: dict[str, list[str]] = {}
        for boundary in graph.boundaries:
            self.boundaries_of.setdefault(boundary.attached_to, []).append(boundary.id)
        self.flows = {flow.id: flow for flow in flows}
        self.boxes: dict[str, _Box] = {}
        self.labels: dict[str, _Box] = {}  # boundary events' and named flows' label bounds
        self.waypoints: dict[str, list[Point]] = {}
        self.layer: dict[str, int] = {}
        self.chain: dict[str, list[str]] = {}  # flow id -> its slots, in the flow's direction
        self.backward: set[str] = set()  # flows drawn right to left
        self.center: dict[str, Point] = {}
        self.column_x: list[int] = []
        self.column_width: list[int] = []
        self.layers: list[list[str]] = []
        nodes = [n.id for n in graph.nodes]
        preds, succs, entered_from_boundary = self._slots(nodes)
        self.layers = self._order(nodes, preds, succs, entered_from_boundary)
        self._place(self.layers, preds, entered_from_boundary)
        for flow in flows:
            self.waypoints[flow.id] = self._route(flow)
            if flow.name:
                self.labels[flow.id] = _flow_label(self.waypoints[flow.id], flow.name)
        # A gateway's label above its left corner: its flows leave and loop through the others.
        for vertex, box in self.boxes.items():
            if self.kind.get(vertex) in GATEWAY_KINDS:
                self.labels[vertex] = _Box(
                    box.x + 8 - LABEL_WIDTH, box.cy - 4 - LABEL_HEIGHT, LABEL_WIDTH, LABEL_HEIGHT
                )

    def _size(self, node_id: str) -> tuple[int, int]:
        kind = self.kind[node_id]
        if kind in TASK_KINDS:
            count = len(self.boundaries_of.get(node_id, ()))
            return max(TASK_SIZE[0], BOUNDARY_SPACING * count + 12), TASK_SIZE[1]
        if kind in GATEWAY_KINDS:
            return GATEWAY_SIZE
        return EVENT_SIZE

    # -- 1 to 3: cycles, layers, slots

    def _slots(self, nodes: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]], set[str]]:
        # Arcs between nodes: a boundary event's flow counts from its host; a loop on one node
        # takes no part.
        arcs = [
            (self.host.get(flow.source, flow.source), flow.target, flow.id)
            for flow in self.flows.values()
            if self.host.get(flow.source, flow.source) != flow.target
        ]
        successors: dict[str, list[str]] = {v: [] for v in nodes}
        for start, end, _ in arcs:
            successors[start].append(end)
        entered = {end for _, end, _ in arcs}

        # 1. Cycles: an arc that closes one in a depth-first walk from the roots is reversed.
        back: set[tuple[str, str]] = set()
        state: dict[str, int] = {}  # 1: on the walk's stack, 2: done
        for root in [v for v in nodes if v not in entered] + nodes:
            if root in state:
                continue
            state[root] = 1
            stack = [(root, 0)]
            while stack:
                vertex, index = stack.pop()
                if index == len(successors[vertex]):
                    state[vertex] = 2
                    continue
                stack.append((vertex, index + 1))
                child = successors[vertex][index]
                if state.get(child) == 1:
                    back.add((vertex, child))
                elif child not in state:
                    state[child] = 1
                    stack.append((child, 0))
        dag = []
        for start, end, flow_id in arcs:
            if (start, end) in back:
                self.backward.add(flow_id)
                start, end = end, start
            dag.append((start, end, flow_id))

        # 2. Layers: the longest path from a root (Kahn's order, ties by the graph's node order).
        node_preds: dict[str, list[str]] = {v: [] for v in nodes}
        node_succs: dict[str, list[str]] = {v: [] for v in nodes}
        for start, end, _ in dag:
            node_succs[start].append(end)
            node_preds[end].append(start)
        waiting = {v: len(node_preds[v]) for v in nodes}
        ready = [v for v in nodes if not waiting[v]]
        while ready:
            ready.sort(key=self.order.__getitem__)
            vertex = ready.pop(0)
            self.layer[vertex] = max((self.layer[p] + 1 for p in node_preds[vertex]), default=0)
            for child in node_succs[vertex]:
                waiting[child] -= 1
                if not waiting[child]:
                    ready.append(child)

        # 3. Slots: the nodes, and a placeholder on each layer that a long arc crosses.
        preds: dict[str, list[str]] = {v: [] for v in nodes}
        succs: dict[str, list[str]] = {v: [] for v in nodes}
        entered_from_boundary: set[str] = set()
        for number, (start, end, flow_id) in enumerate(dag):
            path = [start]
            for step in range(self.layer[start] + 1, self.layer[end]):
                placeholder = f"\0{number}.{step}"  # no NCName starts with NUL
                self.layer[placeholder] = step
                preds[placeholder], succs[placeholder] = [], []
                path.append(placeholder)
            path.append(end)
            for a, b in pairwise(path):
                succs[a].append(b)
                preds[b].append(a)
            if flow_id in self.backward:
                path.reverse()
            elif self.flows[flow_id].source in self.host:
                entered_from_boundary.add(path[1])
            self.chain[flow_id] = path
        return preds, succs, entered_from_boundary

    # -- 4: the order within each layer

    def _order(
        self,
        nodes: list[str],
        preds: dict[str, list[str]],
        succs: dict[str, list[str]],
        entered_from_boundary: set[str],
    ) -> list[list[str]]:
        # Exception paths: slots entered from a boundary event, and slots only they lead to.
        exceptional: set[str] = set()
        for vertex in sorted(self.layer, key=self.layer.__getitem__):
            if vertex in entered_from_boundary or (
                preds[vertex] and all(p in exceptional for p in preds[vertex])
            ):
                exceptional.add(vertex)
        discovered: dict[str, int] = {}
        for root in [v for v in nodes if not preds[v]] + nodes:
            walk = [root]
            while walk:
                vertex = walk.pop()
                if vertex not in discovered:
                    discovered[vertex] = len(discovered)
                    walk.extend(reversed(succs[vertex]))
        depth = max(self.layer.values(), default=0) + 1
        layers: list[list[str]] = [[] for _ in range(depth)]
        for vertex in sorted(self.layer, key=lambda v: (v in exceptional, discovered[v])):
            layers[self.layer[vertex]].append(vertex)
        # The order follows the main flows: a boundary event's flow leaves its host's bottom
        # towards the exception paths below, so it neither pulls its host nor counts as a crossing.
        main_preds = {v: ([] if v in entered_from_boundary else around) for v, around in preds.items()}
        main_succs = {v: [s for s in around if s not in entered_from_boundary] for v, around in succs.items()}
        best, fewest = [list(level) for level in layers], _crossings(layers, main_succs)
        for sweep in range(_SWEEPS):
            downward = sweep % 2 == 0
            neighbours = main_preds if downward else main_succs
            for index in range(1, depth) if downward else range(depth - 2, -1, -1):
                position = {v: i for i, v in enumerate(layers[index - 1 if downward else index + 1])}
                current = {v: i for i, v in enumerate(layers[index])}

                def key(v: str, around=neighbours, position=position, current=current) -> tuple[bool, float]:
                    seen = [position[n] for n in around[v] if n in position]
                    return v in exceptional, sum(seen) / len(seen) if seen else float(current[v])

                layers[index].sort(key=key)
            crossings = _crossings(layers, main_succs)
            if crossings < fewest:
                best, fewest = [list(level) for level in layers], crossings
        return best

    # -- 5 and 6: rows and coordinates

    def _place(
        self, layers: list[list[str]], preds: dict[str, list[str]], entered_from_boundary: set[str]
    ) -> None:
        # Rows: each slot as near its predecessors' median row as the order allows; an exception
        # path one row below the host it leaves (its flow leaves the host's bottom).
        row: dict[str, int] = {}
        for level in layers:
            last = -1
            for vertex in level:
                around = sorted(row[p] for p in preds[vertex] if p in row)
                wanted = around[(len(around) - 1) // 2] if around else 0
                row[vertex] = max(wanted + (vertex in entered_from_boundary), last + 1)
                last = row[vertex]
        # Columns as wide as their widest node. A row is taller when a task in it carries boundary
        # events: their flows drop below it, and their labels sit under the drops.
        x = MARGIN
        for level in layers:
            width = max((self._size(v)[0] for v in level if v in self.kind), default=0)
            self.column_x.append(x)
            self.column_width.append(width)
            x += width + COLUMN_GAP
        rows = max(row.values(), default=0) + 1
        extra = [0] * rows
        for host, boundaries in self.boundaries_of.items():
            extra[row[host]] = max(extra[row[host]], _drop(len(boundaries) - 1) + 2 * LABEL_HEIGHT)
        top = [MARGIN]
        for index in range(rows - 1):
            top.append(top[-1] + ROW_HEIGHT + extra[index])
        for index, level in enumerate(layers):
            for vertex in level:
                center = (
                    self.column_x[index] + self.column_width[index] // 2,
                    top[row[vertex]] + ROW_HEIGHT // 2,
                )
                self.center[vertex] = center
                if vertex in self.kind:
                    width, height = self._size(vertex)
                    self.boxes[vertex] = _Box(center[0] - width // 2, center[1] - height // 2, width, height)
        # Boundary events side by side on their host's bottom border; their labels under the
        # flows' drops, every other one lower so that neighbours do not overlap.
        for host, boundaries in self.boundaries_of.items():
            box = self.boxes[host]
            slot = box.width // len(boundaries)
            size = EVENT_SIZE[0]
            for index, boundary in enumerate(boundaries):
                event = _Box(box.x + slot * index + (slot - size) // 2, box.bottom - size // 2, size, size)
                self.boxes[boundary] = event
                label_top = event.bottom + _drop(len(boundaries) - 1) + 4 + (index % 2) * LABEL_HEIGHT
                self.labels[boundary] = _Box(
                    event.cx - LABEL_WIDTH // 2, label_top, LABEL_WIDTH, LABEL_HEIGHT
                )

    # -- 7: waypoints

    def _gap_x(self, layer: int, rightward: bool) -> int:
        """The middle of the gap beside column `layer`, on the side the flow goes."""
        if rightward:
            return self.column_x[layer] + self.column_width[layer] + COLUMN_GAP // 2
        return self.column_x[layer] - COLUMN_GAP // 2

    def _route(self, flow: _Flow) -> list[Point]:
        source, target = self.boxes[flow.source], self.boxes[flow.target]
        host = self.host.get(flow.source)
        if flow.source == flow.target:  # a loop on one node: out of its right side, over its top
            right, above = source.right + 20, source.y - 20
            return [
                (source.right, source.cy),
                (right, source.cy),
                (right, above),
                (source.cx, above),
                (source.cx, source.y),
            ]
        chain = self.chain.get(flow.id, [])
        # Each start leaves `points` ending where the flow may turn towards its next slot; with
        # `turn_here`, the first turn is at that point's x (not in the gap beside the column).
        turn_here = True
        if host is not None:
            # Down from the boundary event, then along under its host to the gap beside it.
            siblings = self.boundaries_of[host]
            index = siblings.index(flow.source)
            drop = source.bottom + _drop(index)
            points = [(source.cx, source.bottom), (source.cx, drop)]
            if not chain:  # back onto its own host
                return _simplify([*points, (target.cx, drop), (target.cx, target.bottom)])
            rightward = flow.id not in self.backward
            lane = self._gap_x(self.layer[host], rightward) + 8 * (index - (len(siblings) - 1) // 2)
            points.append((lane, drop))
        elif flow.id in self.backward:
            # Out over the top (or under the bottom, towards a lower slot), then to the left gap.
            below = self.center[chain[1]][1] > source.cy
            edge_y = source.bottom + 20 if below else source.y - 20
            points = [(source.cx, source.bottom if below else source.y), (source.cx, edge_y)]
            points.append((self._gap_x(self.layer[chain[0]], False) - LOOP_LANE, edge_y))
        elif self.kind[flow.source] in GATEWAY_KINDS and self._clear_below_or_above(flow.source, chain[1]):
            # A gateway's branch to another row leaves from its top or bottom corner.
            next_y = self.center[chain[1]][1]
            points = [(source.cx, source.bottom if next_y > source.cy else source.y)]
        else:
            points = [(source.right, source.cy)]
            turn_here = False
        # A loop turns a little left of the gaps' middles, where the forward flows turn.
        loop_lane = LOOP_LANE if flow.id in self.backward and host is None else 0
        for step in range(1, len(chain)):
            previous, slot = chain[step - 1], chain[step]
            rightward = self.layer[slot] > self.layer[previous]
            x, y = points[-1]
            bend = x if step == 1 and turn_here else self._gap_x(self.layer[previous], rightward) - loop_lane
            if slot != flow.target:
                entry = self.center[slot]
                if y != entry[1]:
                    points += [(bend, y), (bend, entry[1])]
                points.append(entry)
            elif rightward:
                if y != target.cy:
                    points += [(bend, y), (bend, target.cy)]
                points.append((target.x, target.cy))
            else:  # a loop's end: into the target from above (or from below, coming from lower)
                from_below = y > target.cy
                edge_y = target.bottom + 20 if from_below else target.y - 20
                points += [(bend, y), (bend, edge_y), (target.cx, edge_y)]
                points.append((target.cx, target.bottom if from_below else target.y))
        return _simplify(points)

    def _clear_below_or_above(self, vertex: str, towards: str) -> bool:
        """Whether a line from `vertex` straight up or down to the row of slot `towards` (in the
        next layer), then right, meets no other slot of `vertex`'s column (a node, or a flow
        passing through)."""
        y0, y1 = self.center[vertex][1], self.center[towards][1]
        if y0 == y1:
            return False
        low, high = min(y0, y1), max(y0, y1)
        return not any(
            other != vertex and low <= self.center[other][1] <= high
            for other in self.layers[self.layer[vertex]]
        )


def _drop(index: int) -> int:
    """How far below a boundary event its flow (the `index`-th on the host) turns."""
    return 12 + 8 * index


def _flow_label(points: list[Point], name: str) -> _Box:
    """A named flow's label, near its source: above its first segment when that runs straight
    to the target; else beside the segment where it turns away (flows that leave a gateway
    together part there)."""
    width = min(max(7 * len(name), 20), LABEL_WIDTH)
    if len(points) > 2 and points[0][1] == points[1][1]:
        points = points[1:]
    (x0, y0), (x1, y1) = points[0], points[1]
    if y0 == y1:  # horizontal: above the line
        left = x0 + 6 if x1 > x0 else x0 - 6 - width
        return _Box(left, y0 - LABEL_HEIGHT - 2, width, LABEL_HEIGHT)
    top = y0 + 4 if y1 > y0 else y0 - 4 - LABEL_HEIGHT  # vertical: right of the line
    return _Box(x0 + 6, top, width, LABEL_HEIGHT)


def _crossings(layers: list[list[str]], succs: dict[str, list[str]]) -> int:
    """How many slot-to-slot segments cross between neighbouring layers."""
    total = 0
    for upper, lower in pairwise(layers):
        position = {v: i for i, v in enumerate(lower)}
        segments = [(i, position[s]) for i, v in enumerate(upper) for s in succs[v] if s in position]
        for index, (a1, a2) in enumerate(segments):
            total += sum(1 for b1, b2 in segments[index + 1 :] if (a1 - b1) * (a2 - b2) < 0)
    return total


def _simplify(points: list[Point]) -> list[Point]:
    """Without repeated points and without middle points of straight runs."""
    kept: list[Point] = []
    for point in points:
        if kept and kept[-1] == point:
            continue
        if len(kept) >= 2:
            (ax, ay), (bx, by) = kept[-2], kept[-1]
            if (ax == bx == point[0]) or (ay == by == point[1]):
                kept[-1] = point
                continue
        kept.append(point)
    return kept


# ---------------------------------------------------------------- the writer


class _Element:
    """An XML element written with fixed prefixes and indentation (deterministic bytes)."""

    __slots__ = ("attrs", "children", "tag", "text")

    def __init__(self, tag: str, attrs: Iterable[tuple[str, str | None]] = (), text: str = "") -> None:
        self.tag = tag
        self.attrs = [(key, value) for key, value in attrs if value is not None]
        self.children: list[_Element] = []
        self.text = text

    def add(self, tag: str, attrs: Iterable[tuple[str, str | None]] = (), text: str = "") -> _Element:
        child = _Element(tag, attrs, text)
        self.children.append(child)
        return child

    def write(self, out: list[str], depth: int = 0) -> None:
        pad = "  " * depth
        attrs = "".join(f' {key}="{_attr(value)}"' for key, value in self.attrs)
        if self.children:
            out.append(f"{pad}<{self.tag}{attrs}>\n")
            for child in self.children:
                child.write(out, depth + 1)
            out.append(f"{pad}</{self.tag}>\n")
        elif self.text:
            out.append(f"{pad}<{self.tag}{attrs}>{_text(self.text)}</{self.tag}>\n")
        else:
            out.append(f"{pad}<{self.tag}{attrs}/>\n")


def _text(value: str) -> str:
    value = _NOT_XML.sub("", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _attr(value: str) -> str:
    return _text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def _event_definition(parent: _Element, event: str, timer: str, owner: str, ids: _Ids) -> None:
    if not event:
        return
    definition = parent.add(f"bpmn:{event}EventDefinition", [("id", ids.new(f"{owner}_{event}"))])
    if event == "timer" and timer:
        # A repetition starts with R, a duration with P; anything else is a moment.
        tag = (
            "timeCycle" if timer.startswith("R") else "timeDuration" if timer.startswith("P") else "timeDate"
        )
        definition.add(f"bpmn:{tag}", [("xsi:type", "bpmn:tFormalExpression")], timer)
    elif event == "conditional":
        definition.add("bpmn:condition", [("xsi:type", "bpmn:tFormalExpression")])


def _documentation(parent: _Element, text: str) -> None:
    if text:
        parent.add("bpmn:documentation", text=text)


def _flows(graph: BpmnGraph, ids: _Ids) -> list[_Flow]:
    """The graph's sequence flows, and a flow (or, for compensation, an association) from each
    boundary event with a target."""
    flows: list[_Flow] = []
    for edge in graph.edges:
        flows.append(
            _Flow(
                ids.new(f"Flow_{edge.source}_{edge.target}"),
                edge.source,
                edge.target,
                edge.name,
                edge.condition,
                edge.default,
            )
        )
    for boundary in graph.boundaries:
        if boundary.target is None:
            continue
        association = boundary.event == "compensate"
        prefix = "Association" if association else "Flow"
        flows.append(
            _Flow(
                ids.new(f"{prefix}_{boundary.id}_{boundary.target}"),
                boundary.id,
                boundary.target,
                "",
                "",
                False,
                association=association,
            )
        )
    return flows


def bpmn_xml(graph: BpmnGraph) -> bytes:
    """`graph` as a BPMN 2.0 file (UTF-8) with diagram interchange: valid against the OMG BPMN
    2.0 XSD, the same bytes for the same graph. Raises ValueError for a graph that cannot be
    valid (an id that is no NCName or is used twice, a flow to an unknown node, ...)."""
    _check(graph)
    nodes = {n.id: n for n in graph.nodes}
    ids = _Ids([graph.process_id, *nodes, *(b.id for b in graph.boundaries)])

    flows = _flows(graph, ids)
    sequence = [f for f in flows if not f.association]
    incoming: dict[str, list[str]] = {}
    outgoing: dict[str, list[str]] = {}
    for flow in sequence:
        outgoing.setdefault(flow.source, []).append(flow.id)
        incoming.setdefault(flow.target, []).append(flow.id)
    default_of = {f.source: f.id for f in sequence if f.default}
    for_compensation = {b.target for b in graph.boundaries if b.event == "compensate" and b.target}

    layout = _Layout(graph, flows)

    root = _Element(
        "bpmn:definitions",
        [
            ("xmlns:bpmn", MODEL_NS),
            ("xmlns:bpmndi", BPMNDI_NS),
            ("xmlns:dc", DC_NS),
            ("xmlns:di", DI_NS),
            ("xmlns:xsi", XSI_NS),
            ("id", ids.new(f"Definitions_{graph.process_id}")),
            ("targetNamespace", TARGET_NS),
            ("exporter", EXPORTER),
        ],
    )
    process = root.add(
        "bpmn:process",
        [("id", graph.process_id), ("name", graph.name or None), ("isExecutable", "false")],
    )
    _documentation(process, graph.documentation)
    for node in graph.nodes:
        attrs: list[tuple[str, str | None]] = [("id", node.id), ("name", node.name or None)]
        if node.id in for_compensation:
            attrs.append(("isForCompensation", "true"))
        attrs.append(("default", default_of.get(node.id)))
        element = process.add(f"bpmn:{node.kind}", attrs)
        _documentation(element, node.documentation)
        for flow_id in incoming.get(node.id, ()):
            element.add("bpmn:incoming", text=flow_id)
        for flow_id in outgoing.get(node.id, ()):
            element.add("bpmn:outgoing", text=flow_id)
        _event_definition(element, node.event, node.timer, node.id, ids)
    for boundary in graph.boundaries:
        interrupting = None if boundary.event == "compensate" else str(boundary.interrupting).lower()
        element = process.add(
            "bpmn:boundaryEvent",
            [
                ("id", boundary.id),
                ("name", boundary.name or None),
                ("cancelActivity", interrupting),
                ("attachedToRef", boundary.attached_to),
            ],
        )
        _documentation(element, boundary.documentation)
        for flow_id in outgoing.get(boundary.id, ()):
            element.add("bpmn:outgoing", text=flow_id)
        _event_definition(element, boundary.event, boundary.timer, boundary.id, ids)
    for flow in sequence:
        element = process.add(
            "bpmn:sequenceFlow",
            [
                ("id", flow.id),
                ("name", flow.name or None),
                ("sourceRef", flow.source),
                ("targetRef", flow.target),
            ],
        )
        if flow.condition:
            element.add("bpmn:conditionExpression", [("xsi:type", "bpmn:tFormalExpression")], flow.condition)
    for flow in flows:
        if flow.association:
            process.add(
                "bpmn:association",
                [
                    ("id", flow.id),
                    ("associationDirection", "One"),
                    ("sourceRef", flow.source),
                    ("targetRef", flow.target),
                ],
            )

    diagram = root.add("bpmndi:BPMNDiagram", [("id", ids.new(f"Diagram_{graph.process_id}"))])
    plane = diagram.add(
        "bpmndi:BPMNPlane", [("id", ids.new(f"Plane_{graph.process_id}")), ("bpmnElement", graph.process_id)]
    )
    shape_ids: dict[str, str] = {}
    for element_id in [*nodes, *(b.id for b in graph.boundaries)]:
        box = layout.boxes[element_id]
        shape_ids[element_id] = ids.new(f"{element_id}_di")
        attrs = [("id", shape_ids[element_id]), ("bpmnElement", element_id)]
        if nodes.get(element_id) is not None and nodes[element_id].kind == "exclusiveGateway":
            attrs.append(("isMarkerVisible", "true"))
        shape = plane.add("bpmndi:BPMNShape", attrs)
        shape.add("dc:Bounds", _bounds(box))
        if element_id in layout.labels:
            shape.add("bpmndi:BPMNLabel").add("dc:Bounds", _bounds(layout.labels[element_id]))
    for flow in flows:
        di_edge = plane.add(
            "bpmndi:BPMNEdge",
            [
                ("id", ids.new(f"{flow.id}_di")),
                ("bpmnElement", flow.id),
                ("sourceElement", shape_ids[flow.source]),
                ("targetElement", shape_ids[flow.target]),
            ],
        )
        for x, y in layout.waypoints[flow.id]:
            di_edge.add("di:waypoint", [("x", str(x)), ("y", str(y))])
        if flow.id in layout.labels:
            di_edge.add("bpmndi:BPMNLabel").add("dc:Bounds", _bounds(layout.labels[flow.id]))

    out = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    root.write(out)
    return "".join(out).encode("utf-8")


# ---------------------------------------------------------------- the same layout as SVG

# A node's state on a process's diagram (`bpmn_svg` marks) -> its fill: the colours of the
# process page's legend (templates/processes/process_diagram.html).
MARK_FILLS = {
    "new": "rgba(66,165,245,.5)",
    "assigned": "rgba(255,235,59,.5)",
    "scheduled": "rgba(179,229,252,.5)",
    "done": "rgba(200,230,201,.5)",
    "error": "rgba(244,67,54,.5)",
}
_SVG_FONT = 'font-family="Roboto, sans-serif" font-size="11"'


def _svg_lines(name: str, width: int) -> list[str]:
    """`name` wrapped to lines that fit `width` pixels (about 6 pixels a character)."""
    lines: list[str] = []
    for word in name.split():
        if lines and len(lines[-1]) + 1 + len(word) <= max(width // 6, 8):
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines[:4]


def _svg_text(x: int, y: int, name: str, width: int, anchor: str = "middle") -> str:
    lines = _svg_lines(name, width)
    top = y - 7 * (len(lines) - 1)
    spans = "".join(
        f'<tspan x="{x}" y="{top + 14 * i}">{html.escape(line)}</tspan>' for i, line in enumerate(lines)
    )
    return f'<text {_SVG_FONT} text-anchor="{anchor}" dominant-baseline="middle">{spans}</text>'


def bpmn_svg(graph: BpmnGraph, marks: Mapping[str, str] | None = None) -> str:
    """`graph` drawn as inline SVG with the layout of its BPMN file's diagram: tasks as rounded
    boxes, gateways as diamonds, events as circles, boundary events on their task's edge, flows
    with arrows and their names. `marks` colours nodes by their state on one process (node id ->
    a key of MARK_FILLS): the process page's "where it is"."""
    _check(graph)
    marks = marks or {}
    nodes = {n.id: n for n in graph.nodes}
    ids = _Ids([graph.process_id, *nodes, *(b.id for b in graph.boundaries)])
    flows = _flows(graph, ids)
    layout = _Layout(graph, flows)
    boxes = [*layout.boxes.values(), *layout.labels.values()]
    points = [point for waypoints in layout.waypoints.values() for point in waypoints]
    width = max([box.right for box in boxes] + [x for x, _ in points]) + 20
    height = max([box.bottom for box in boxes] + [y for _, y in points]) + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" class="portal-bpmn">',
        '<defs><marker id="portal-bpmn-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>',
    ]
    for flow in flows:
        line = " ".join(f"{x},{y}" for x, y in layout.waypoints[flow.id])
        dash = ' stroke-dasharray="4 3"' if flow.association else ""
        out.append(
            f'<polyline points="{line}" fill="none" stroke="#444" stroke-width="1.2"{dash} '
            'marker-end="url(#portal-bpmn-arrow)"/>'
        )
        if flow.id in layout.labels and flow.name:
            label = layout.labels[flow.id]
            out.append(_svg_text(label.x, label.cy, flow.name, label.width * 2, anchor="start"))
    for node in graph.nodes:
        box = layout.boxes[node.id]
        fill = MARK_FILLS.get(marks.get(node.id, ""), "#fff")
        if node.kind.endswith("Event"):
            ring = 3 if node.kind == "endEvent" else 1.5
            out.append(
                f'<circle cx="{box.cx}" cy="{box.cy}" r="{box.width // 2}" fill="{fill}" stroke="#222" '
                f'stroke-width="{ring}"/>'
            )
            out.append(_svg_text(box.cx, box.bottom + 14, node.name, 110))
        elif node.kind.endswith("Gateway"):
            diamond = f"{box.cx},{box.y} {box.right},{box.cy} {box.cx},{box.bottom} {box.x},{box.cy}"
            out.append(f'<polygon points="{diamond}" fill="{fill}" stroke="#222" stroke-width="1.5"/>')
            if node.kind == "exclusiveGateway":
                x, y = box.cx, box.cy  # the exclusive gateway's X marker
                out.append(
                    f'<path d="M{x - 6},{y - 6} L{x + 6},{y + 6} M{x + 6},{y - 6} L{x - 6},{y + 6}" '
                    'stroke="#222" stroke-width="2.5"/>'
                )
            if node.name:
                out.append(_svg_text(box.cx, box.y - 10, node.name, 110))
        else:
            out.append(
                f'<rect x="{box.x}" y="{box.y}" width="{box.width}" height="{box.height}" rx="8" '
                f'fill="{fill}" stroke="#222" stroke-width="1.5"/>'
            )
            out.append(_svg_text(box.cx, box.cy, node.name, box.width - 8))
    for boundary in graph.boundaries:
        box = layout.boxes[boundary.id]
        dash = "" if boundary.interrupting else ' stroke-dasharray="3 2"'
        out.append(
            f'<circle cx="{box.cx}" cy="{box.cy}" r="{box.width // 2}" fill="#fff" stroke="#222" '
            f'stroke-width="1.2"{dash}/>'
        )
        if boundary.id in layout.labels and boundary.name:
            label = layout.labels[boundary.id]
            out.append(_svg_text(label.cx, label.cy, boundary.name, label.width))
    out.append("</svg>")
    return "".join(out)


def _bounds(box: _Box) -> list[tuple[str, str | None]]:
    return [("x", str(box.x)), ("y", str(box.y)), ("width", str(box.width)), ("height", str(box.height))]


# ---------------------------------------------------------------- viewflow flows

_EVENT_DEFINITION = re.compile(r"<bpmn:(\w+)EventDefinition")
_TIMER_EXPRESSION = re.compile(r"<bpmn:time(?:Duration|Date|Cycle)>([^<]*)<")


def _declaration_order(flow_class: type) -> dict[str, int]:
    """Node attribute names in the order the flow (and its bases) declare them."""
    order: dict[str, int] = {}
    for klass in reversed(flow_class.__mro__):
        for name in vars(klass):
            order.setdefault(name, len(order))
    return order


def _condition_text(condition: Any) -> str:
    """A readable text for a branch condition: `process.approved` for `act.process.approved`, a
    method's or function's name, or "" (a lambda says nothing)."""
    if condition is None:
        return ""
    qualname = getattr(condition, "__qualname__", "")
    closure = getattr(condition, "__closure__", None)
    for subject in ("process", "task"):
        if qualname.startswith(f"Act.{subject}.") and closure:
            cells = dict(zip(condition.__code__.co_freevars, closure, strict=False))
            if "name" in cells:
                return f"{subject}.{cells['name'].cell_contents}"
    name = getattr(condition, "__name__", "")
    return "" if not name or name == "<lambda>" else str(name)


def _event_of(node: Any) -> tuple[str, str]:
    """The event definition and timer expression viewflow writes for `node` (its BPMN content);
    a fixed delay as the shortest ISO 8601 duration ("P2D" rather than "PT172800S")."""
    content = str(node.bpmn_content() or "")
    found = _EVENT_DEFINITION.search(content)
    timer = _TIMER_EXPRESSION.search(content)
    delay = getattr(node, "_delay", None)
    if isinstance(delay, timedelta) and delay >= timedelta(0):
        return (found.group(1) if found else "timer"), iso_duration(delay)
    return (found.group(1) if found else ""), (timer.group(1).strip() if timer else "")


def _title(node: Any) -> str:
    return force_str(node.task_title or "")


def _is_auto_title(node: Any) -> bool:
    """viewflow titles an unannotated node after its name ("Authorize Payment  Error")."""
    return _title(node) == node.name.replace("_", " ").title()


def _timer_documentation(delay: Any) -> str:
    if callable(delay):
        name = getattr(delay, "__name__", "") or type(delay).__name__
        return f"The moment is computed when the task starts ({name})."
    return ""


def flow_graph(flow_class: Any) -> BpmnGraph:
    """The graph of a viewflow Flow class: every node with its BPMN element and title, the
    sequence flows (an If's branches named yes and no, its condition on the yes branch and the
    no branch its default; a Switch's cases named by their conditions), and the boundary events
    of `.OnTimeout` (timers; a computed delay has no expression, a timedelta becomes an ISO 8601
    duration), `.OnError` and `.CompensateWith` (an association to the handler)."""
    flow = flow_class.instance
    try:
        label = flow.flow_label
    except AttributeError:  # a flow class outside any installed app
        label = flow_class.__name__.lower()
    declared = _declaration_order(flow_class)
    known = [node for node in flow.nodes() if getattr(node, "bpmn_element", None)]
    known.sort(
        key=lambda node: (
            node.bpmn_element != "startEvent",
            declared.get(node.name, len(declared)),
            node.name,
        )
    )
    ids = _Ids([])
    id_of = {node: ids.new(node.name) for node in known}
    process_id = ids.new(f"Process_{label}")

    nodes: list[BpmnNode] = []
    boundaries: list[BpmnBoundary] = []
    edges: list[BpmnEdge] = []
    for node in known:
        attached_to = getattr(node, "_attached_to", None)
        if node.bpmn_element == "boundaryEvent" and attached_to in id_of:
            event, timer = _event_of(node)
            outgoing = [e.dst for e in node._outgoing() if e.dst in id_of]
            boundaries.append(
                BpmnBoundary(
                    id=id_of[node],
                    attached_to=id_of[attached_to],
                    name="" if _is_auto_title(node) else _title(node),
                    target=id_of[outgoing[0]] if outgoing else None,
                    event=event or "timer",
                    timer=timer,
                    interrupting=bool(getattr(node, "_interrupting", True)),
                    documentation=_timer_documentation(getattr(node, "_delay", None))
                    if event == "timer"
                    else "",
                )
            )
            edges += [BpmnEdge(id_of[node], id_of[dst]) for dst in outgoing[1:]]
            continue
        kind = node.bpmn_element if node.bpmn_element in NODE_KINDS else "task"
        branches = _branches(node)
        if kind == "parallelGateway" and any(condition for _, _, condition, _ in branches):
            kind = "inclusiveGateway"  # a Split with conditional branches
        event, timer = _event_of(node) if kind in EVENT_DEFINITIONS else ("", "")
        if event not in EVENT_DEFINITIONS.get(kind, ()):
            event = ""  # a definition BPMN does not allow on this kind of event
        nodes.append(
            BpmnNode(
                id=id_of[node],
                kind=kind,
                name=_title(node),
                documentation=force_str(getattr(node, "task_description", "") or ""),
                event=event,
                timer=timer if event == "timer" else "",
            )
        )
        for dst, name, condition, default in branches:
            if dst in id_of:
                edges.append(BpmnEdge(id_of[node], id_of[dst], name, condition, default))
        handler = getattr(node, "_compensation_handler", None)
        if handler is not None:
            boundaries.append(
                BpmnBoundary(
                    id=ids.new(f"{node.name}__compensation"),
                    attached_to=id_of[node],
                    name="",
                    target=id_of.get(handler),
                    event="compensate",
                )
            )
    # A compensation handler's id was reserved after the nodes': check it targets a known node.
    boundaries = [b for b in boundaries if b.event != "compensate" or b.target is not None]
    nodes, edges, boundaries = _event_races(nodes, edges, boundaries, ids)
    return BpmnGraph(
        process_id=process_id,
        name=force_str(flow_class.process_title or ""),
        nodes=tuple(nodes),
        edges=tuple(edges),
        boundaries=tuple(boundaries),
        documentation=force_str(flow_class.process_description or ""),
    )


def _event_races(
    nodes: list[BpmnNode], edges: list[BpmnEdge], boundaries: list[BpmnBoundary], ids: _Ids
) -> tuple[list[BpmnNode], list[BpmnEdge], list[BpmnBoundary]]:
    """A catch event with timeouts (a WaitMessage with `.OnTimeout`) as BPMN draws it: BPMN
    attaches boundary events to activities only, so the wait becomes an event-based gateway
    whose first event wins: the message catch event, or an intermediate timer catch event per
    timeout (keeping the boundary's id, its path and its expression)."""
    kinds = {node.id: node.kind for node in nodes}
    hosts = {b.attached_to for b in boundaries if kinds.get(b.attached_to) == "intermediateCatchEvent"}
    if not hosts:
        return nodes, edges, boundaries
    gateway_of = {host: ids.new(f"{host}__gateway") for host in hosts}
    out_nodes: list[BpmnNode] = []
    for node in nodes:
        if node.id in hosts:
            out_nodes.append(BpmnNode(id=gateway_of[node.id], kind="eventBasedGateway", name=""))
        out_nodes.append(node)
    out_edges = [
        BpmnEdge(e.source, gateway_of.get(e.target, e.target), e.name, e.condition, e.default) for e in edges
    ]
    out_edges += [BpmnEdge(gateway_of[host], host) for host in sorted(hosts)]
    kept: list[BpmnBoundary] = []
    for boundary in boundaries:
        if boundary.attached_to not in hosts:
            kept.append(boundary)
            continue
        out_nodes.append(
            BpmnNode(
                id=boundary.id,
                kind="intermediateCatchEvent",
                name=boundary.name,
                documentation=boundary.documentation,
                event=boundary.event,
                timer=boundary.timer,
            )
        )
        out_edges.append(BpmnEdge(gateway_of[boundary.attached_to], boundary.id))
        if boundary.target is not None:
            out_edges.append(BpmnEdge(boundary.id, boundary.target))
    return out_nodes, out_edges, kept


def _branches(node: Any) -> list[tuple[Any, str, str, bool]]:
    """A node's outgoing flows as (target node, name, condition, is default)."""
    if hasattr(node, "_on_true") and hasattr(node, "_on_false"):  # flow.If
        condition = _condition_text(getattr(node, "_condition", None))
        return [(node._on_true, "yes", condition, False), (node._on_false, "no", "", True)]
    cases = getattr(node, "_activate_next", None)  # flow.Switch (node, cond), flow.Split (node, cond, data)
    if isinstance(cases, list) and cases and isinstance(cases[0], tuple):
        branches = []
        for case in cases:
            target, condition = case[0], case[1]
            text = _condition_text(condition)
            if node.bpmn_element == "exclusiveGateway":
                branches.append((target, text, text, condition is None))
            else:
                branches.append((target, text, text, False))
        return branches
    return [
        (edge.dst, force_str(edge.label or ""), "", False)
        for edge in node._outgoing()
        if edge.edge_class not in ("boundary", "compensation")
    ]


def flow_bpmn(flow_class: Any) -> bytes:
    """A viewflow Flow class as a BPMN 2.0 file with diagram interchange: `bpmn_xml(flow_graph(…))`."""
    return bpmn_xml(flow_graph(flow_class))


def flow_bpmn_filename(flow_class: Any) -> str:
    """The download name of a flow's BPMN file: its label ("purchase.bpmn")."""
    try:
        label = flow_class.instance.flow_label
    except AttributeError:
        label = flow_class.__name__.lower()
    return f"{ncname(label.replace('/', '_'))}.bpmn"
