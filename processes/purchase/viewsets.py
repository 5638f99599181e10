"""The purchase app in the portal: viewflow's flow pages, plus the requester's "my requests"."""

from __future__ import annotations

from django.urls import path
from viewflow.urls import AppMenuMixin, Viewset, route

from processes.flowapp import GatedFlowAppViewset
from processes.pages import ProcessChartView, ProcessDetailView
from processes.purchase import views


class MyRequestsViewset(AppMenuMixin, Viewset):
    title = "My requests"
    icon = "assignment_ind"

    index_path = path("", views.MyRequestsView.as_view(), name="index")


class PurchaseAppViewset(GatedFlowAppViewset):
    process_detail_view_class = ProcessDetailView
    chart_view_class = ProcessChartView
    my_requests_path = route("mine/", MyRequestsViewset())
