"""URLs of the task list benchmark: the portal's, with viewflow's own (ungated) flow apps in place
of the portal's gated ones, so viewflow's inbox, queue and archive pages, the baseline, are
routed beside the portal's task lists. Only the benchmark uses it (issue 11 routes the flows'
lists to the portal's task list in the product)."""

from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from viewflow.workflow.flow import FlowAppViewset

from processes.branding import PRODUCT_NAME
from processes.registry import registry
from processes.site import PortalSite
from processes.tasklist.viewsets import TasksApp

site = PortalSite(
    title=PRODUCT_NAME,
    viewsets=[TasksApp(), *(FlowAppViewset(flow, icon=d.icon) for d in registry for flow in [d.flow])],
)

urlpatterns = [
    path("notifications/", include("processes.notifications.urls")),  # the page shell links them
    path("jsi18n/", login_not_required(JavaScriptCatalog.as_view()), name="portal_jsi18n"),  # and this
    path("", site.urls),
]
