"""Process types in the admin: a type's page (name, icon, who may start it, outcomes) lists its
versions; a version's page holds its request form and its approval chain, validated before it
can be published, read-only once published, copied to change it (like approval policies).

A version downloads as a portable definition (processes/catalog/definitions.py), and the types'
list imports one: both pages call the definitions' services and hold no logic of their own."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from processes.catalog.bpmn import version_bpmn, version_bpmn_filename
from processes.catalog.definitions import (
    DefinitionError,
    DefinitionInvalid,
    definition_dumps,
    definition_export,
    definition_import,
    definition_loads,
    definition_notices,
    definition_slug,
)
from processes.catalog.fields import field_specs
from processes.catalog.forms import DefinitionImportForm
from processes.catalog.models import MANAGED_BY, CatalogRequest, FormField, ProcessType, TypeVersion
from processes.catalog.selectors import type_by_slug, type_published_version, version_fields
from processes.catalog.services import process_type_create, process_type_update
from processes.policies.admin import PolicyVersionAdmin, StageInline, _DraftOnly
from processes.policies.conditions import condition_check


@admin.register(ProcessType)
class ProcessTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "published_version", "starters"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["starter_groups"]
    fields = [
        "name",
        "slug",
        "description",
        "icon",
        "starter_groups",
        "on_approved",
        "on_rejected",
        "versions",
    ]
    readonly_fields = ["versions"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "slug"] if obj else self.readonly_fields  # addresses stay put

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj else self.prepopulated_fields

    @admin.display(description=_("published version"))
    def published_version(self, obj):
        version = type_published_version(obj)
        return f"v{version.number}" if version else "none"

    @admin.display(description=_("who may start it"))
    def starters(self, obj):
        return ", ".join(group.name for group in obj.starter_groups.all()) or "nobody"

    @admin.display(description=_("versions"))
    def versions(self, obj):
        if obj is None or obj.pk is None:
            return "Save the type: its first draft version is created with it."
        rows = format_html_join(
            "",
            '<li><a href="{}">v{}</a> ({})</li>',
            (
                (
                    reverse("admin:catalog_typeversion_change", args=[version.pk]),
                    version.number,
                    version.get_status_display(),
                )
                for version in obj.policy.versions.order_by("-number")
            ),
        )
        return format_html("<ul>{}</ul>", rows)

    def save_model(self, request, obj, form, change):
        """The services write the type (with its policy and first draft, the starters' rights,
        the policy's name and the audit), not the form."""
        values = {
            name: form.cleaned_data[name]
            for name in ("name", "description", "icon", "on_approved", "on_rejected")
        }
        groups = list(form.cleaned_data["starter_groups"])
        if change:
            process_type_update(process_type=obj, starter_groups=groups, user=request.user, **values)
            return
        created = process_type_create(slug=obj.slug, starter_groups=groups, user=request.user, **values)
        # The form's instance becomes the saved type (the admin then saves its groups again, and logs it).
        obj.pk, obj.policy_id, obj.created_at = created.pk, created.policy_id, created.created_at
        obj._state.adding, obj._state.db = False, created._state.db

    def get_exclude(self, request, obj=None):
        return ["policy"]

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_view)
        return [path("import/", view, name="catalog_processtype_import"), *super().get_urls()]

    def import_view(self, request):
        """Import a definition as a new type's v1 or an existing type's next draft; its problems
        show by path, and nothing is written then. Needs the add permission (and the change
        permission for an existing type); groups are created only by those who may add groups."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = DefinitionImportForm(request.POST or None, request.FILES or None)
        errors: list[DefinitionError] = []
        if request.method == "POST" and form.is_valid():
            try:
                doc = definition_loads(form.cleaned_data["file"].read())
                existing = type_by_slug(definition_slug(doc))
                if existing is not None and not self.has_change_permission(request, existing):
                    message = "A process type with this address exists here, and you may not change it."
                    raise DefinitionInvalid([DefinitionError("type.slug", message)])
                notices = definition_notices(doc)
                version = definition_import(
                    doc, user=request.user, create_groups=request.user.has_perm("auth.add_group")
                )
            except DefinitionInvalid as invalid:
                errors = invalid.errors
            else:
                for notice in notices:
                    self.message_user(request, str(notice), messages.WARNING)
                self.message_user(
                    request,
                    f"Imported {version.policy.process_type.name} v{version.number} as a draft: "
                    "check it, then publish it from the versions' list.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:catalog_typeversion_change", args=[version.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import a definition",
            "form": form,
            "errors": errors,
        }
        return TemplateResponse(request, "admin/catalog/processtype/import.html", context)


class FormFieldInline(_DraftOnly, admin.StackedInline):
    model = FormField
    fk_name = "version"
    fieldsets = [
        (None, {"fields": [("order", "name", "label", "kind", "required")]}),
        (None, {"fields": ["help_text"]}),
        (None, {"fields": [("min_length", "max_length", "min_value", "max_value", "currency")]}),
        (None, {"fields": ["choices"]}),
    ]
    extra = 0
    ordering = ["order"]


class ConditionStageInline(StageInline):
    """The chain's stages, with a condition on the form's fields instead of amount bounds."""

    fieldsets = [
        (None, {"fields": [("order", "name", "group")]}),
        (None, {"fields": ["condition"]}),
        (None, {"fields": [("sla", "reminder_before")]}),
        (None, {"fields": [("escalation_group", "escalation_user", "level_list")]}),
    ]

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        specs = field_specs(version_fields(obj)) if obj is not None and obj.pk else {}

        class CheckedForm(formset.form):  # type: ignore[name-defined]  # built by the admin
            def clean_condition(self):
                """The condition against the form's saved fields: the error shows on its field."""
                condition = self.cleaned_data.get("condition", "")
                problems = condition_check(condition, specs) if condition.strip() else []
                if problems:
                    raise ValidationError(problems)
                return condition

        formset.form = CheckedForm
        return formset


@admin.register(TypeVersion)
class TypeVersionAdmin(PolicyVersionAdmin):
    """A process type's version: its form, its chain, its calendar; published like a policy's."""

    managed_by = MANAGED_BY
    list_filter = ["policy__process_type", "status"]
    inlines = [FormFieldInline, ConditionStageInline]
    fields = [
        "policy",
        "number",
        "status",
        "note",
        "published_at",
        "published_by",
        "allow_auto_decisions",
        ("working_days", "work_starts", "work_ends", "time_zone"),
        "problems",
        "running_processes",
        "downloads",
    ]
    readonly_fields = [*PolicyVersionAdmin.readonly_fields, "downloads"]
    #: A version's downloads: (format, link text); each has the view `export_<format>_view`.
    exports = [("json", "Export JSON"), ("bpmn", "Export BPMN")]

    def has_add_permission(self, request):
        return False  # a type's first draft comes with it; later ones are copies

    def get_urls(self):
        urls = [
            path(
                f"<path:object_id>/export/{fmt}/",
                self.admin_site.admin_view(getattr(self, f"export_{fmt}_view")),
                name=f"catalog_typeversion_export_{fmt}",
            )
            for fmt, _label in self.exports
        ]
        return [*urls, *super().get_urls()]

    @admin.display(description=_("definition"))
    def downloads(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return format_html_join(
            " · ",
            '<a href="{}">{}</a>',
            (
                (reverse(f"admin:catalog_typeversion_export_{fmt}", args=[obj.pk]), label)
                for fmt, label in self.exports
            ),
        )

    def _exported(self, request, object_id):
        """The version to download: needs the view permission on process types and on it."""
        view_types = f"catalog.{get_permission_codename('view', ProcessType._meta)}"
        if not (request.user.has_perm(view_types) and self.has_view_permission(request)):
            raise PermissionDenied
        version = self.get_object(request, unquote(object_id))
        if version is None:
            raise Http404("No such process type version")
        return version

    def export_json_view(self, request, object_id):
        """The version's portable definition, as a JSON download."""
        version = self._exported(request, object_id)
        response = HttpResponse(
            definition_dumps(definition_export(version)), content_type="application/json; charset=utf-8"
        )
        filename = f"{version.policy.process_type.slug}-v{version.number}.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def export_bpmn_view(self, request, object_id):
        """The version's chain as BPMN 2.0 with its diagram (processes/catalog/bpmn.py)."""
        version = self._exported(request, object_id)
        response = HttpResponse(version_bpmn(version), content_type="application/xml")
        response["Content-Disposition"] = f'attachment; filename="{version_bpmn_filename(version)}"'
        return response


@admin.register(CatalogRequest)
class CatalogRequestAdmin(admin.ModelAdmin):
    list_display = ["pk", "subject", "process_type", "version", "requester", "status", "approved", "created"]
    list_filter = ["process_type", "status", "approved"]
    search_fields = ["subject", "correlation_id", "requester__username"]
    readonly_fields = [
        "correlation_id",
        "process_type",
        "version",
        "requester",
        "subject",
        "values",
        "amount",
        "currency",
        "status",
        "approved",
        "stage_order",
        "created",
        "finished",
    ]
    fields = list(readonly_fields)

    def has_add_permission(self, request):
        return False  # requests start in the portal, through the flow

    def has_change_permission(self, request, obj=None):
        return False
