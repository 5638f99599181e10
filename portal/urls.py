from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from viewflow.contrib.auth import AuthViewset

from portal import views
from processes.api.api import api_urls
from processes.attachments.views import attachment_download
from processes.branding import PRODUCT_NAME
from processes.languages.views import language_set
from processes.metrics import metrics_view
from processes.site import portal_site

admin.site.site_header = f"{PRODUCT_NAME} administration"
admin.site.site_title = PRODUCT_NAME

# Every uncaught error: a page that needs no database, a 503 when the database is what failed.
handler500 = "portal.views.server_error"

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
    # The JavaScript strings (static/portal/*.js) in the request's language; public, as the
    # sign-in page loads them too. Not named "javascript-catalog": viewflow's base template would
    # then add a second, blocking copy of it.
    path("jsi18n/", login_not_required(JavaScriptCatalog.as_view()), name="portal_jsi18n"),
    path("accounts/language/", language_set, name="language_set"),
    path("accounts/absence/", include("processes.absences.urls")),
    path("accounts/", AuthViewset(allow_password_change=True, with_profile_view=True).urls),
    path("", site.urls),
]
