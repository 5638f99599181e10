"""The BPMN 2.0 export (processes/bpmn.py): every registered process type, and a hand-built graph
with every construct, validate against the OMG BPMN 2.0 XSD, reference only what they define,
give every node and flow its diagram interchange, and come out byte-identical each time. The
process type's diagram page serves it for `?format=bpmn`, behind the page's own gate.

The XSDs come from SpiffWorkflow's wheel (a test-only dependency). lxml's XSD validation does not
resolve IDREFs, so `_references` checks them. Whether bpmn.io opens the files:
tests/e2e/test_bpmn_viewer.py.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from lxml import etree
from viewflow import this
from viewflow.workflow import act, flow

from processes import locks
from processes.bpmn import (
    BpmnBoundary,
    BpmnEdge,
    BpmnGraph,
    BpmnNode,
    bpmn_xml,
    flow_bpmn,
    flow_bpmn_filename,
    flow_graph,
    iso_duration,
    ncname,
)
from processes.nodes.wait_message import WaitMessage
from processes.orders.flows import OrderFlow
from processes.purchase.flows import PurchaseFlow
from processes.registry import registry
from tests.processes.bpmn_samples import TRICKY_AS_XML_READS_IT, handmade_graph

ROOT = Path(__file__).resolve().parents[2]
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
FLOW_NODES = {
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "task",
    "userTask",
    "serviceTask",
    "scriptTask",
    "sendTask",
    "receiveTask",
    "manualTask",
    "businessRuleTask",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "complexGateway",
    "eventBasedGateway",
}


class SampleFlow(flow.Flow):
    """Every node kind

    A diagram-only flow (not installed, never run) with the viewflow nodes the portal's own flows
    do not use."""

    lock_impl = locks.select_for_update_lock  # viewflow.W001: a Join needs a real lock

    start = flow.StartHandle().Next(this.split)
    split = flow.Split().Next(this.wait, case=act.process.finished).Next(this.choose)
    wait = flow.Timer(timedelta(days=2)).Next(this.join)
    choose = (
        flow.Switch()
        .Case(this.receive, cond=lambda activation: True)
        .Case(this.work, cond=act.process.finished)
        .Default(this.join)
    )
    receive = flow.Handle(this.noop).Next(this.join)
    work = (
        flow.Function(this.noop).OnTimeout(timedelta(hours=1), this.late).OnError(this.failed).Next(this.join)
    )
    late = flow.Function(this.noop).Next(this.join)
    join = flow.Join().Next(this.end)
    end = flow.End()
    failed = flow.End()

    def noop(self, *args, **kwargs):
        return None


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    spec = importlib.util.find_spec("SpiffWorkflow")
    assert spec is not None, "SpiffWorkflow (the dev group) ships the OMG XSDs"
    assert spec.origin
    return etree.XMLSchema(etree.parse(str(Path(spec.origin).parent / "bpmn/parser/schema/BPMN20.xsd")))


def _valid(schema: etree.XMLSchema, data: bytes) -> etree._Element:
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    document = etree.fromstring(data)
    if not schema.validate(document):
        pytest.fail("not valid BPMN 2.0:\n" + "\n".join(str(error) for error in schema.error_log))
    return document


def _references(document: etree._Element) -> dict[str, etree._Element]:
    """Every reference resolves; returns the elements by id."""
    by_id: dict[str, etree._Element] = {}
    for element in document.iter():
        if element.get("id") is not None:
            assert element.get("id") not in by_id, f"two elements have the id {element.get('id')}"
            by_id[element.get("id")] = element
    for attribute in ("sourceRef", "targetRef", "attachedToRef", "default", "bpmnElement"):
        for element in document.iter():
            if element.get(attribute) is not None:
                assert element.get(attribute) in by_id, (
                    f"{attribute}={element.get(attribute)} resolves to nothing"
                )
    for flow_element in document.iterfind(".//bpmn:sequenceFlow", NS):
        source, target = by_id[flow_element.get("sourceRef")], by_id[flow_element.get("targetRef")]
        flow_id = flow_element.get("id")
        assert flow_id in [e.text for e in source.iterfind("bpmn:outgoing", NS)], f"{flow_id} not outgoing"
        assert flow_id in [e.text for e in target.iterfind("bpmn:incoming", NS)], f"{flow_id} not incoming"
    for tag in ("incoming", "outgoing"):
        for ref in document.iterfind(f".//bpmn:{tag}", NS):
            assert by_id[ref.text].tag == f"{{{NS['bpmn']}}}sequenceFlow"
    for gateway in document.iterfind(".//*[@default]"):
        assert by_id[gateway.get("default")].get("sourceRef") == gateway.get("id")
    return by_id


def _diagram(
    document: etree._Element,
) -> tuple[dict[str, tuple[float, ...]], dict[str, list[tuple[float, float]]]]:
    """Every flow node and boundary event has one shape, every flow and association one edge
    with orthogonal waypoints from its source's shape to its target's; no two nodes overlap."""
    process = document.find("bpmn:process", NS)
    plane = document.find("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS)
    assert plane.get("bpmnElement") == process.get("id")
    shapes: dict[str, tuple[float, ...]] = {}
    for shape in plane.iterfind("bpmndi:BPMNShape", NS):
        bounds = shape.find("dc:Bounds", NS)
        assert shape.get("bpmnElement") not in shapes
        shapes[shape.get("bpmnElement")] = tuple(float(bounds.get(k)) for k in ("x", "y", "width", "height"))
    nodes = [e for e in process if etree.QName(e).localname in FLOW_NODES]
    assert sorted(shapes) == sorted(e.get("id") for e in nodes)
    edges: dict[str, list[tuple[float, float]]] = {}
    for edge in plane.iterfind("bpmndi:BPMNEdge", NS):
        edges[edge.get("bpmnElement")] = [
            (float(p.get("x")), float(p.get("y"))) for p in edge.iterfind("di:waypoint", NS)
        ]
    flows = [e for e in process if etree.QName(e).localname in ("sequenceFlow", "association")]
    assert sorted(edges) == sorted(e.get("id") for e in flows)

    def on(point: tuple[float, float], box: tuple[float, ...]) -> bool:
        x, y, width, height = box
        return x <= point[0] <= x + width and y <= point[1] <= y + height

    for element in flows:
        points = edges[element.get("id")]
        assert len(points) >= 2
        assert on(points[0], shapes[element.get("sourceRef")]), f"{element.get('id')} starts off its source"
        assert on(points[-1], shapes[element.get("targetRef")]), f"{element.get('id')} ends off its target"
        for (x1, y1), (x2, y2) in pairwise(points):
            assert x1 == x2 or y1 == y2, f"{element.get('id')} has a slanted segment"
    boxes = [(e.get("id"), shapes[e.get("id")]) for e in nodes if etree.QName(e).localname != "boundaryEvent"]
    for index, (a, (ax, ay, aw, ah)) in enumerate(boxes):
        for b, (bx, by, bw, bh) in boxes[index + 1 :]:
            assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay, f"{a} overlaps {b}"
    return shapes, edges


# ---------------------------------------------------------------- every registered process type


@pytest.mark.parametrize("flow_class", registry.flows(), ids=lambda f: f.instance.flow_label)
def test_every_registered_flow_exports_valid_bpmn_with_di(schema, flow_class):
    data = flow_bpmn(flow_class)

    document = _valid(schema, data)
    by_id = _references(document)
    shapes, _ = _diagram(document)
    assert data == flow_bpmn(flow_class)
    # Every viewflow node is in it, as what viewflow says it is.
    process = document.find("bpmn:process", NS)
    assert process.get("name") == str(flow_class.process_title)
    races = 0
    for node in flow_class.instance.nodes():
        element = by_id[node.name]
        expected = node.bpmn_element
        if isinstance(getattr(node, "_attached_to", None), WaitMessage):
            expected = "intermediateCatchEvent"  # a wait's timeout races it after an event gateway
        if isinstance(node, WaitMessage) and node._boundary_events:
            races += 1
            (incoming,) = element.findall("bpmn:incoming", NS)
            gateway = by_id[f"{node.name}__gateway"]
            assert etree.QName(gateway).localname == "eventBasedGateway"
            assert incoming.text in [o.text for o in gateway.findall("bpmn:outgoing", NS)]
        assert etree.QName(element).localname == expected, node.name
    assert len(shapes) == len(list(flow_class.instance.nodes())) + races + sum(
        1 for node in flow_class.instance.nodes() if getattr(node, "_compensation_handler", None)
    )


def test_the_registry_holds_the_three_process_types():
    """The loop above covers the shipped plug-ins and the test-only one."""
    assert {f.instance.flow_label for f in registry.flows()} >= {"purchase", "order", "expense"}


def test_purchase_flow_graph():
    graph = flow_graph(PurchaseFlow)
    nodes = {n.id: n for n in graph.nodes}

    assert graph.process_id == "Process_purchase"
    assert graph.nodes[0] == BpmnNode("start", "startEvent", "New purchase request")
    assert (nodes["approve"].kind, nodes["approve"].name) == ("userTask", "Approve purchase request")
    assert nodes["create_order"].kind == "serviceTask"  # our CeleryJob
    # The routing steps move the request to its next stage and choose the way on (nodes.Route):
    # `route` after the start and a revision, `check_approved` after a decision.
    assert (nodes["route"].kind, nodes["route"].name) == ("exclusiveGateway", "Next approval stage")
    assert BpmnEdge("route", "approve", "process.has_stage", "process.has_stage") in graph.edges
    assert BpmnEdge("route", "create_order", "", "", default=True) in graph.edges
    assert "has_next_stage" not in nodes
    assert nodes["check_approved"].kind == "exclusiveGateway"
    assert [n.id for n in graph.nodes if n.kind == "endEvent"] == ["approved", "withdrawn"]
    assert [edge for edge in graph.edges if edge.source == "check_approved"] == [
        BpmnEdge("check_approved", "revise", "process.rejected", "process.rejected"),
        BpmnEdge("check_approved", "approve", "process.has_stage", "process.has_stage"),
        BpmnEdge("check_approved", "create_order", "", "", default=True),
    ]
    # The four optional timers of DeadlineView: non-interrupting, each to its step, their moment
    # computed at run time (so no expression).
    assert [(b.id, b.name, b.target, b.event, b.timer, b.interrupting) for b in graph.boundaries] == [
        ("approve__timeout", "Reminder", "remind", "timer", "", False),
        ("approve__timeout_2", "Escalation level 1", "escalate_1", "timer", "", False),
        ("approve__timeout_3", "Escalation level 2", "escalate_2", "timer", "", False),
        ("approve__timeout_4", "Escalation level 3", "escalate_3", "timer", "", False),
    ]
    assert {b.attached_to for b in graph.boundaries} == {"approve"}
    assert [b.documentation.split("(")[1] for b in graph.boundaries] == [
        "reminder_due).",
        "level_1_due).",
        "level_2_due).",
        "level_3_due).",
    ]
    assert "pinned when the request is submitted" in graph.documentation


def test_order_flow_graph_has_error_boundaries_and_compensation(schema):
    graph = flow_graph(OrderFlow)
    nodes = {n.id: n for n in graph.nodes}
    boundaries = {b.id: b for b in graph.boundaries}

    assert (nodes["start_api"].kind, nodes["start_api"].event) == ("startEvent", "message")
    assert (nodes["compensate"].kind, nodes["compensate"].event) == ("intermediateThrowEvent", "compensate")
    assert (nodes["review_fraud"].kind, boundaries["review_fraud__timeout"].target) == (
        "userTask",
        "remind_review",
    )
    error = boundaries["capture_payment__error"]
    assert (error.event, error.target, error.interrupting, error.name) == ("error", "compensate", True, "")
    undo = boundaries["capture_payment__compensation"]
    assert (undo.event, undo.attached_to, undo.target) == ("compensate", "capture_payment", "refund_payment")
    # The handler is linked by an association, not a sequence flow, and marked as one.
    document = _valid(schema, bpmn_xml(graph))
    by_id = _references(document)
    association = document.find(".//bpmn:association[@sourceRef='capture_payment__compensation']", NS)
    assert association.get("targetRef") == "refund_payment"
    assert by_id["refund_payment"].get("isForCompensation") == "true"
    assert by_id["refund_payment"].find("bpmn:incoming", NS) is None


def test_other_viewflow_nodes_map_to_their_bpmn_elements(schema):
    graph = flow_graph(SampleFlow)
    nodes = {n.id: n for n in graph.nodes}
    boundaries = {b.id: b for b in graph.boundaries}

    assert nodes["split"].kind == "inclusiveGateway"  # a Split with a conditional branch
    assert (nodes["wait"].kind, nodes["wait"].event, nodes["wait"].timer) == (
        "intermediateCatchEvent",
        "timer",
        "P2D",
    )
    assert nodes["receive"].kind == "receiveTask"
    assert nodes["join"].kind == "parallelGateway"
    assert BpmnEdge("choose", "work", "process.finished", "process.finished") in graph.edges
    assert BpmnEdge("choose", "receive") in graph.edges  # a lambda has nothing to show
    assert BpmnEdge("choose", "join", default=True) in graph.edges
    timer = boundaries["work__timeout"]
    assert (timer.timer, timer.target, timer.interrupting) == ("PT1H", "late", True)
    assert (boundaries["work__error"].event, boundaries["work__error"].target) == ("error", "failed")
    document = _valid(schema, flow_bpmn(SampleFlow))
    _references(document)
    _diagram(document)
    assert flow_bpmn_filename(SampleFlow).endswith(".bpmn")


# ---------------------------------------------------------------- a hand-built graph


def test_hand_built_graph_is_valid_bpmn_with_di(schema):
    document = _valid(schema, bpmn_xml(handmade_graph()))
    by_id = _references(document)
    _diagram(document)

    process = document.find("bpmn:process", NS)
    assert process.get("name") == TRICKY_AS_XML_READS_IT
    assert by_id["review"].get("name") == TRICKY_AS_XML_READS_IT
    assert process.find("bpmn:documentation", NS).text == "Ends with ]]> and has <tags> & ampersands."
    assert by_id["review"].find("bpmn:documentation", NS).text == "Check the <amount>."
    # Conditions, and the default flow.
    to_wait = document.find(".//bpmn:sequenceFlow[@targetRef='wait']", NS)
    condition = to_wait.find("bpmn:conditionExpression", NS)
    assert condition.text == 'amount > 1000 && currency == "EUR"'
    assert condition.get(f"{{{NS['xsi']}}}type") == "bpmn:tFormalExpression"
    assert to_wait.get("name") == "above 1,000 & <EUR>"
    assert by_id[by_id["decide"].get("default")].get("targetRef") == "cool_off"
    # Events: message and timer catches, a terminate end.
    assert by_id["wait"].find("bpmn:messageEventDefinition", NS) is not None
    assert by_id["cool_off"].findtext("bpmn:timerEventDefinition/bpmn:timeDuration", namespaces=NS) == "PT30M"
    assert by_id["failed"].find("bpmn:terminateEventDefinition", NS) is not None
    # Timer boundaries: with and without a target, an expression, interrupting or not.
    reminder, deadline = by_id["review_reminder"], by_id["review_deadline"]
    assert reminder.get("attachedToRef") == "review"
    assert (reminder.get("cancelActivity"), deadline.get("cancelActivity")) == ("false", "true")
    assert reminder.findtext("bpmn:timerEventDefinition/bpmn:timeDuration", namespaces=NS) == "P2D"
    assert by_id[reminder.findtext("bpmn:outgoing", namespaces=NS)].get("targetRef") == "remind"
    assert by_id["review_sla"].find("bpmn:outgoing", NS) is None
    assert (
        by_id["review_sla"].findtext("bpmn:timerEventDefinition/bpmn:timeDuration", namespaces=NS) == "PT4H"
    )
    assert len(by_id["review_computed"].find("bpmn:timerEventDefinition", NS)) == 0
    assert by_id["score_failed"].find("bpmn:errorEventDefinition", NS) is not None
    assert by_id["undo"].get("isForCompensation") == "true"
    # Exclusive gateways show their marker in bpmn.io.
    assert document.find(".//bpmndi:BPMNShape[@bpmnElement='decide']", NS).get("isMarkerVisible") == "true"


def test_same_graph_same_bytes_whatever_the_hash_seed():
    data = bpmn_xml(handmade_graph())
    assert data == bpmn_xml(dataclasses.replace(handmade_graph()))
    code = (
        "import sys; from tests.processes.bpmn_samples import handmade_graph; "
        "from processes.bpmn import bpmn_xml; sys.stdout.buffer.write(bpmn_xml(handmade_graph()))"
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, env=env, cwd=ROOT, check=True
        )
        assert result.stdout == data


def _graph(**changes) -> BpmnGraph:
    return dataclasses.replace(handmade_graph(), **changes)


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        (lambda: _graph(process_id="1st process"), "not an ASCII XML NCName"),
        (lambda: _graph(nodes=(*handmade_graph().nodes, BpmnNode("start", "endEvent", ""))), "Two elements"),
        (lambda: _graph(nodes=(*handmade_graph().nodes, BpmnNode("x", "subProcess", ""))), "unknown kind"),
        (lambda: _graph(edges=(BpmnEdge("start", "nowhere"),)), "which is no node"),
        (lambda: _graph(edges=(BpmnEdge("split", "join", default=True),)), "has no default flow"),
        (lambda: _graph(boundaries=(BpmnBoundary("b", "decide", "", "done"),)), "not a task"),
        (lambda: _graph(boundaries=(BpmnBoundary("b", "review", "", event="error"),)), "always interrupts"),
        (
            lambda: _graph(nodes=(BpmnNode("s", "startEvent", "", event="terminate"),), edges=()),
            "cannot carry",
        ),
        (
            lambda: _graph(nodes=(BpmnNode("s", "startEvent", "", timer="P1D"),), edges=()),
            "needs the 'timer'",
        ),
    ],
)
def test_a_graph_that_cannot_be_valid_is_refused(graph, message):
    with pytest.raises(ValueError, match=message):
        bpmn_xml(graph())


def test_ncname_and_iso_duration():
    assert ncname("purchase") == "purchase"
    assert ncname("1st step") == "_1st_step"
    assert ncname("größe/v2") == "gr__e_v2"
    assert ncname("") == "_"
    assert iso_duration(timedelta(days=2)) == "P2D"
    assert iso_duration(timedelta(minutes=30)) == "PT30M"
    assert iso_duration(timedelta(days=1, hours=2, seconds=0.5)) == "P1DT2H0.5S"
    assert iso_duration(timedelta(0)) == "PT0S"
    with pytest.raises(ValueError, match="negative"):
        iso_duration(timedelta(seconds=-1))


# ---------------------------------------------------------------- the diagram page


@pytest.mark.django_db
def test_the_diagram_page_serves_our_bpmn_as_a_download(client, olivia):
    client.force_login(olivia)

    response = client.get("/purchase/chart/?format=bpmn")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert response["Content-Disposition"] == 'attachment; filename="purchase.bpmn"'
    assert response.content == flow_bpmn(PurchaseFlow)
    assert (
        client.get("/purchase/chart/").headers["Content-Type"].startswith("image/svg+xml")
    )  # the chart itself


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("persona", "status"), [("alice", 200), ("olivia", 200), ("frank", 403), ("ava", 403)]
)
def test_one_process_diagram_keeps_its_gate_for_bpmn(
    client, request, purchase_policy, submit_request, persona, status
):
    process = submit_request()
    client.force_login(request.getfixturevalue(persona))

    response = client.get(f"/purchase/{process.pk}/chart/?format=bpmn")

    assert response.status_code == status
    if status == 200:
        assert response.content == flow_bpmn(PurchaseFlow)


@pytest.mark.django_db
def test_a_process_types_bpmn_is_gated_like_its_chart(client, olivia):
    assert client.get("/purchase/chart/?format=bpmn").status_code == 302  # to the login page
    client.force_login(olivia)
    assert client.get("/expense/chart/?format=bpmn").status_code == 403  # the matrix: only admins
