"""Graphs for the BPMN export's tests. This module imports only processes.bpmn (no Django
setup), so a fresh interpreter can build the same graph under another hash seed."""

from __future__ import annotations

from processes.bpmn import BpmnBoundary, BpmnEdge, BpmnGraph, BpmnNode

# Markup, quotes, a line break, non-ASCII, an emoji and a control character XML does not allow.
TRICKY = "Approve <b>\"big\" & 'small'</b>\nnext line: Ünïcödé 🚀\x01"
TRICKY_AS_XML_READS_IT = TRICKY.replace("\x01", "")


def handmade_graph() -> BpmnGraph:
    """Every construct the export knows: parallel split and join, an exclusive gateway with
    conditions, a default flow and a loop back, message and timer catch events, timer boundary
    events with and without a target and with and without an expression, an error boundary and a
    compensation handler, a terminate end."""
    return BpmnGraph(
        process_id="Process_handmade",
        name=TRICKY,
        documentation="Ends with ]]> and has <tags> & ampersands.",
        nodes=(
            BpmnNode("start", "startEvent", "Request & go"),
            BpmnNode("split", "parallelGateway", ""),
            BpmnNode("review", "userTask", TRICKY, documentation="Check the <amount>."),
            BpmnNode("score", "serviceTask", "Score"),
            BpmnNode("join", "parallelGateway", ""),
            BpmnNode("decide", "exclusiveGateway", "Amount?"),
            BpmnNode("wait", "intermediateCatchEvent", "Payment received", event="message"),
            BpmnNode("cool_off", "intermediateCatchEvent", "Cool off", event="timer", timer="PT30M"),
            BpmnNode("remind", "scriptTask", "Remind"),
            BpmnNode("escalate", "sendTask", "Escalate"),
            BpmnNode("undo", "serviceTask", "Undo the score"),
            BpmnNode("done", "endEvent", "Done"),
            BpmnNode("failed", "endEvent", "Failed", event="terminate"),
        ),
        edges=(
            BpmnEdge("start", "split"),
            BpmnEdge("split", "review"),
            BpmnEdge("split", "score"),
            BpmnEdge("review", "join"),
            BpmnEdge("score", "join"),
            BpmnEdge("join", "decide"),
            BpmnEdge(
                "decide", "wait", name="above 1,000 & <EUR>", condition='amount > 1000 && currency == "EUR"'
            ),
            BpmnEdge("decide", "cool_off", name="otherwise", default=True),
            BpmnEdge("decide", "review", name="unclear", condition="unclear"),  # a loop back
            BpmnEdge("wait", "done"),
            BpmnEdge("cool_off", "done"),
            BpmnEdge("escalate", "failed"),
        ),
        boundaries=(
            BpmnBoundary("review_reminder", "review", "Reminder", target="remind", timer="P2D"),
            BpmnBoundary(
                "review_deadline", "review", "Deadline", target="escalate", timer="P5D", interrupting=True
            ),
            BpmnBoundary("review_sla", "review", "SLA, no path", timer="PT4H"),
            BpmnBoundary("review_computed", "review", "", documentation="Computed at run time."),
            BpmnBoundary(
                "score_failed", "score", "Scoring failed", target="failed", event="error", interrupting=True
            ),
            BpmnBoundary("score_undo", "score", "", target="undo", event="compensate"),
        ),
    )
