"""Each version of a process type defined as data exports as its own BPMN 2.0 (its stages, not
the generic flow), valid against the OMG XSD, with a shape for every node and an edge for every
flow."""

from __future__ import annotations

from lxml import etree

from processes.catalog.bpmn import version_bpmn, version_bpmn_filename
from processes.catalog.models import TypeVersion
from tests.processes.test_bpmn import NS, _diagram, _references, _valid, schema  # noqa: F401  # fixture


def test_a_version_exports_its_chain_as_valid_bpmn(schema, expense_type):  # noqa: F811  # the fixture
    version = TypeVersion.objects.get(policy=expense_type.policy)
    data = version_bpmn(version)
    document = _valid(schema, data)
    by_id = _references(document)
    _diagram(document)
    process = document.find("bpmn:process", NS)
    assert process.get("name") == "Expense claim v1"
    tasks = [e.get("name") for e in process.iterfind("bpmn:userTask", NS)]
    assert tasks == ["Approval (approvers)", "Finance (finance)"]
    # Finance only when its condition holds: a gateway with the condition on its "yes" flow.
    condition = process.find("bpmn:sequenceFlow/bpmn:conditionExpression", NS)
    flows = {e.get("id"): e for e in process.iterfind("bpmn:sequenceFlow", NS)}
    conditional = [f for f in flows.values() if f.find("bpmn:conditionExpression", NS) is not None]
    assert "amount > 500" in [f.find("bpmn:conditionExpression", NS).text for f in conditional]
    assert condition is not None
    # Its escalation level is a timer at the SLA (8 hours), non-interrupting.
    boundary = by_id["stage_2_escalation_1"]
    assert boundary.get("cancelActivity") == "false"
    assert boundary.find("bpmn:timerEventDefinition/bpmn:timeDuration", NS).text == "PT8H"
    assert version_bpmn_filename(version) == "expense-claim-v1.bpmn"
    assert version_bpmn(version) == data  # the same bytes each time
    assert etree.QName(document).localname == "definitions"


def test_a_request_s_page_draws_its_own_chain_with_where_it_is(client, expense_type, alice, olivia):
    from decimal import Decimal

    from processes.bpmn import MARK_FILLS
    from processes.catalog.bpmn import request_diagram_svg
    from processes.catalog.services import catalog_request_start

    process = catalog_request_start(
        process_type=expense_type,
        requester=alice,
        values={"title": "Laptop", "amount": Decimal("900"), "category": "Equipment"},
    )
    svg = request_diagram_svg(process)
    document = etree.fromstring(svg.encode())
    texts = " ".join(document.itertext())
    assert "Approval (approvers)" in texts
    assert "Finance (finance)" in texts
    fills = [rect.get("fill") for rect in document.iterfind("{http://www.w3.org/2000/svg}rect")]
    assert fills == [MARK_FILLS["new"], "#fff"]  # waiting at the first stage; finance not reached
    client.force_login(alice)
    page = client.get(f"/catalog/{process.pk}/").content.decode()
    assert 'class="portal-bpmn"' in page
    assert MARK_FILLS["new"] in page
