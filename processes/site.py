"""The portal's viewflow Site, built from the registry: its menu has an app per process type, and
its index sends each user to the first app they may see."""

from __future__ import annotations

import functools

from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.views import View
from viewflow.urls import Site, Viewset

from processes.branding import PRODUCT_NAME
from processes.flowapp import GatedFlowAppViewset
from processes.registry import MenuEntry, ProcessDescriptor, registry
from processes.tasklist.viewsets import TasksApp
from processes.viewsets import OperationsApp


class SiteIndexView(View):
    site: Site | None = None

    def get(self, request):
        assert self.site is not None, "as_view(site=...) sets it"
        for app in self.site._children:
            if app.has_view_permission(request.user):
                return redirect(app.reverse("index"))
        # Logged in, but no group grants any process yet: say so instead of a bare 403.
        return TemplateResponse(request, "portal/no_access.html", status=403)


class PortalSite(Site):
    """viewflow's Site redirects `/` to its first app, a 403 for anyone not allowed there."""

    menu_template_name = "processes/site_menu.html"

    @property
    def index_path(self):
        return path("", SiteIndexView.as_view(site=self), name="index")

    def menu_entries(self, user) -> list[MenuEntry]:
        """The menu's links for `user`: each app's own, or what its process type's descriptor
        lists instead (processes.registry.ProcessDescriptor.menu_entries)."""
        entries: list[MenuEntry] = []
        for app in self.menu_items():
            descriptor = getattr(app, "descriptor", None)
            listed = descriptor.menu_entries(user) if descriptor is not None else None
            if listed is not None:
                entries += listed
            elif app.has_view_permission(user):
                icon = getattr(app.icon, "icon_name", app.icon)  # viewflow's Icon, or a name
                entries.append(MenuEntry(title=str(app.title), icon=str(icon), url=app.reverse("index")))
        return entries


@functools.cache
def portal_site() -> PortalSite:
    """The portal's one Site, built from the registry: the task lists first (`/` lands everyone
    who works on a process there), then each process type's app in registration order, then
    operations. The project's URLconf routes it; pages outside it (the notification center) hand
    it to viewflow's page shell for the menu."""
    return PortalSite(
        title=PRODUCT_NAME,
        viewsets=[TasksApp(), *(process_app(descriptor) for descriptor in registry), OperationsApp()],
    )


def process_app(descriptor: ProcessDescriptor) -> Viewset:
    """A process type's app on the site: its descriptor's `viewset_class`, or the gated default."""
    viewset_class = descriptor.viewset_class or GatedFlowAppViewset
    app = viewset_class(descriptor.flow, icon=descriptor.icon)
    app.descriptor = descriptor  # the site menu asks it for the app's entries
    return app
