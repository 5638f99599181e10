from django.contrib import admin
from django.urls import include, path
from viewflow.contrib.auth import AuthViewset

from portal import views
from processes.api.api import api_urls
from processes.attachments.views import attachment_download
from processes.branding import PRODUCT_NAME
from processes.metrics import metrics_view
from processes.site import portal_site

admin.site.site_header = f"{PRODUCT_NAME} administration"
admin.site.site_title = PRODUCT_NAME

# The task lists, one app per registered process type (processes/registry.py), and operations.
site = portal_site()

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", api_urls()),
    path("notifications/", include("processes.notifications.urls")),
    path("links/", include("processes.actionlinks.urls")),
    path("attachments/<int:attachment_id>/", attachment_download, name="attachment_download"),
    path("accounts/", AuthViewset(allow_password_change=True, with_profile_view=True).urls),
    path("", site.urls),
]
