"""URLs of the approvals benchmark's baseline through HTTP: viewflow's own views of the plain flow."""

from django.urls import path
from viewflow.urls import Site
from viewflow.workflow.flow import FlowAppViewset

from bench.baseline_flow import BaselineApprovalFlow

site = Site(title="Baseline", viewsets=[FlowAppViewset(BaselineApprovalFlow)])

urlpatterns = [path("", site.urls)]
