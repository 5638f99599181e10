"""The portal's viewflow Site: its index sends each user to the first app they may see."""

from __future__ import annotations

from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.views import View
from viewflow.urls import Site


class SiteIndexView(View):
    site: Site | None = None

    def get(self, request):
        for app in self.site._children:
            if app.has_view_permission(request.user):
                return redirect(app.reverse("index"))
        # Logged in, but no group grants any process yet: say so instead of a bare 403.
        return TemplateResponse(request, "portal/no_access.html", status=403)


class PortalSite(Site):
    """viewflow's Site redirects `/` to its first app, a 403 for anyone not allowed there."""

    @property
    def index_path(self):
        return path("", SiteIndexView.as_view(site=self), name="index")
