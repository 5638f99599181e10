"""The catalog's app on the site: the flow's pages, plus each type's page and start form."""

from __future__ import annotations

from django.urls import path
from django.utils.translation import gettext_lazy as _

from processes.catalog import views
from processes.flowapp import GatedFlowAppViewset


class CatalogAppViewset(GatedFlowAppViewset):
    """Its pages' menu is the catalog's, not one type's: a request's pages name its own type
    (ProcessDescriptor.type_title)."""

    @property
    def title(self):
        return _("Process catalog")

    type_index_path = path("types/<slug:slug>/", views.TypeIndexView.as_view(), name="type")
    type_start_path = path("types/<slug:slug>/new/", views.TypeStartView.as_view(), name="type_start")
