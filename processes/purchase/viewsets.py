"""The purchase app in the portal: viewflow's flow pages, plus the requester's "my requests"."""

from __future__ import annotations

from django.urls import path
from viewflow.urls import AppMenuMixin, Viewset, route

from processes.flowapp import GatedFlowAppViewset
from processes.purchase import views


class MyRequestsViewset(AppMenuMixin, Viewset):
    title = "My requests"
    icon = "assignment_ind"

    index_path = path("", views.MyRequestsView.as_view(), name="index")


class PurchaseAppViewset(GatedFlowAppViewset):
    my_requests_path = route("mine/", MyRequestsViewset())
