"""The BPMN export opens in bpmn.io: each registered process type's file, and the hand-built
graph with every construct, imported by bpmn-js's viewer in Chromium, with no error and no
warning, one canvas element per node and boundary event and one connection per flow.

bpmn-js comes from the npm registry into var/node/ (git-ignored), once: later runs find it there.
When it cannot be installed, the test fails and says why; it never skips (without
PORTAL_TEST_SERVICES it is skipped like every browser test, before the install).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from processes.bpmn import BpmnGraph, bpmn_xml, flow_graph
from processes.registry import registry
from tests.e2e.conftest import npm_package
from tests.processes.bpmn_samples import handmade_graph

pytestmark = [pytest.mark.e2e, pytest.mark.services]

BPMN_JS_VERSION = "18.31.1"
NODE_DIR = Path(__file__).resolve().parents[2] / "var" / "node"
PACKAGE = NODE_DIR / "node_modules" / "bpmn-js"

IMPORT = """
async (xml) => {
  const viewer = new BpmnJS({container: "#canvas"});
  try {
    const {warnings} = await viewer.importXML(xml);
    viewer.get("canvas").zoom("fit-viewport");
    const all = viewer.get("elementRegistry").getAll();
    const real = all.filter((e) => e.type !== "label" && e.type !== "bpmn:Process");
    return {
      warnings: warnings.map((w) => w.message),
      shapes: real.filter((e) => !e.waypoints).map((e) => e.id).sort(),
      connections: real.filter((e) => e.waypoints).map((e) => e.id).sort(),
    };
  } catch (error) {
    return {error: String(error), warnings: (error.warnings || []).map((w) => w.message)};
  }
}
"""


@pytest.fixture(scope="session")
def bpmn_viewer() -> Path:
    """bpmn-js's viewer bundle: installed with npm into var/node/ when it is missing or another
    version, else used as it is."""
    return npm_package("bpmn-js", BPMN_JS_VERSION, NODE_DIR, "dist/bpmn-viewer.production.min.js")


def _graphs() -> list[tuple[str, BpmnGraph]]:
    """Every registered process type's graph, and the hand-built one."""
    graphs = [(flow_class.instance.flow_label, flow_graph(flow_class)) for flow_class in registry.flows()]
    return [*graphs, ("handmade", handmade_graph())]


def test_every_export_opens_in_bpmn_io(page, bpmn_viewer, shoot):
    _open_each(page, bpmn_viewer, shoot, _graphs())


@pytest.mark.django_db
def test_a_catalog_type_s_version_opens_in_bpmn_io(page, bpmn_viewer, shoot, maria):
    """A process type defined as data exports its own chain per version (processes/catalog/bpmn.py)."""
    from processes.catalog.bpmn import version_graph
    from processes.catalog.models import TypeVersion
    from tests.processes.catalog.conftest import expense_type_define

    version = TypeVersion.objects.get(policy=expense_type_define(maria).policy)
    _open_each(page, bpmn_viewer, shoot, [("catalog-expense-claim-v1", version_graph(version))])


def _open_each(page, bpmn_viewer, shoot, graphs: list[tuple[str, BpmnGraph]]) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_viewport_size({"width": 1800, "height": 1000})
    for name, graph in graphs:
        page.set_content(
            '<!doctype html><html><body style="margin:0">'
            '<div id="canvas" style="width:1800px;height:1000px"></div></body></html>'
        )
        for css in ("diagram-js.css", "bpmn-js.css"):
            page.add_style_tag(path=str(PACKAGE / "dist" / "assets" / css))
        page.add_script_tag(path=str(bpmn_viewer))

        result = page.evaluate(IMPORT, bpmn_xml(graph).decode("utf-8"))

        assert "error" not in result, f"{name}: {result}"
        assert result["warnings"] == [], name
        # One canvas shape per node and boundary event (bpmn-js keeps the ids), one connection
        # per sequence flow and association.
        assert result["shapes"] == sorted([n.id for n in graph.nodes] + [b.id for b in graph.boundaries]), (
            name
        )
        flows = len(graph.edges) + sum(1 for b in graph.boundaries if b.target is not None)
        assert len(result["connections"]) == flows, name
        shoot(page, f"bpmn-{name}")
    assert errors == []
