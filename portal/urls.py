from django.contrib import admin
from django.urls import include, path
from viewflow.contrib.auth import AuthViewset

from portal import views
from portal.context_processors import PRODUCT_NAME
from portal.site import PortalSite
from processes.attachments.views import attachment_download
from processes.flowapp import GatedFlowAppViewset
from processes.orders.flows import OrderFlow
from processes.purchase.flows import PurchaseFlow
from processes.purchase.viewsets import PurchaseAppViewset
from processes.tasklist.viewsets import TasksApp
from processes.viewsets import OperationsApp

admin.site.site_header = f"{PRODUCT_NAME} administration"
admin.site.site_title = PRODUCT_NAME

site = PortalSite(
    title=PRODUCT_NAME,
    viewsets=[
        TasksApp(),  # first: `/` lands everyone who works on a process on their task list
        PurchaseAppViewset(PurchaseFlow, icon="shopping_cart"),
        GatedFlowAppViewset(OrderFlow, icon="local_shipping"),
        OperationsApp(),
    ],
)

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("notifications/", include("processes.notifications.urls")),
    path("links/", include("processes.actionlinks.urls")),
    path("attachments/<int:attachment_id>/", attachment_download, name="attachment_download"),
    path("accounts/", AuthViewset(allow_password_change=True, with_profile_view=True).urls),
    path("", site.urls),
]
