"""Approval policies in the admin: versions with inline stages, validated publishing, copies.

Published and retired versions are read-only; to change one, copy it to a new draft. A stage's
escalation levels are an inline on the stage's own page (the admin does not nest inlines), which
the version page links to.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from processes.policies.models import ApprovalPolicy, EscalationLevel, PolicyStage, PolicyVersion
from processes.policies.selectors import policy_versions_with_running_counts, running_pinned
from processes.policies.services import policy_version_copy, policy_version_publish, policy_version_validate


class VersionInline(admin.TabularInline):
    model = PolicyVersion
    fields = ["link", "status", "note", "published_at", "published_by"]
    readonly_fields = fields  # type: ignore[assignment]  # django-stubs types the two apart; names here
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("version"))
    def link(self, obj):
        url = reverse("admin:processes_policyversion_change", args=[obj.pk])
        return format_html('<a href="{}">v{}</a>', url, obj.number)


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "published_version"]
    inlines = [VersionInline]

    def get_queryset(self, request):
        # The chains another app edits (an admin-defined process type's) are edited there.
        return super().get_queryset(request).filter(managed_by="")

    @admin.display(description=_("published version"))
    def published_version(self, obj):
        version = obj.versions.filter(status=PolicyVersion.Status.PUBLISHED).first()
        return f"v{version.number}" if version else "none"


class _DraftOnly:
    """Inline rows of a published or retired version are read-only, like the version itself."""

    def _editable(self, obj):
        version = getattr(obj, "version", obj)
        return version is None or version.is_editable

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)  # type: ignore[misc]  # a mixin

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)  # type: ignore[misc]  # a mixin

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)  # type: ignore[misc]  # a mixin


class StageInline(_DraftOnly, admin.StackedInline):
    model = PolicyStage
    # Three short lines per stage: who, for which amounts, how fast and who escalations go to;
    # the stage's own page (the change link) holds its escalation levels.
    fieldsets = [
        (None, {"fields": [("order", "name", "group")]}),
        (None, {"fields": [("amount_above", "amount_up_to")]}),
        (None, {"fields": [("sla", "reminder_before")]}),
        (None, {"fields": [("escalation_group", "escalation_user", "level_list")]}),
    ]
    readonly_fields = ["level_list"]
    extra = 0
    ordering = ["order"]
    show_change_link = True

    @admin.display(description=_("escalation levels"))
    def level_list(self, obj):
        if obj.pk is None:
            return "save, then open the stage to add levels"
        return format_html_join("", "<div>{}</div>", ((str(level),) for level in obj.levels.all())) or "none"


class LevelInline(_DraftOnly, admin.TabularInline):
    model = EscalationLevel
    fields = ["order", "after", "action"]
    extra = 0
    ordering = ["order"]


@admin.register(PolicyStage)
class PolicyStageAdmin(_DraftOnly, admin.ModelAdmin):
    """A stage's page: its settings and its escalation levels (read-only once published)."""

    list_display = ["__str__", "version", "sla", "reminder_before"]
    list_filter = ["version__policy", "version__status"]
    fields = [
        "version",
        ("order", "name", "group"),
        ("amount_above", "amount_up_to"),
        ("sla", "reminder_before"),
        ("escalation_group", "escalation_user"),
    ]
    readonly_fields = ["version"]
    inlines = [LevelInline]

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if obj is not None and obj.version.policy.managed_by:  # a form's chain: conditions, no amounts
            fields[fields.index(("amount_above", "amount_up_to"))] = "condition"
        return fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("version__policy", "group")

    def has_add_permission(self, request):  # type: ignore[override]  # ModelAdmin's signature, not the inlines'
        return False  # stages are added on their version's page


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "stage_list", "running_processes", "published_at", "published_by"]
    list_filter = ["policy", "status"]
    fields = [
        "policy",
        "number",
        "status",
        "note",
        "published_at",
        "published_by",
        "currency",
        "allow_auto_decisions",
        ("working_days", "work_starts", "work_ends", "time_zone"),
        "problems",
        "running_processes",
    ]
    readonly_fields = ["number", "status", "published_at", "published_by", "problems", "running_processes"]
    inlines = [StageInline]
    actions = ["publish", "copy_to_draft"]
    #: The versions this admin lists: the policy admin's own (an app that manages policies lists
    #: its own with a subclass, processes/catalog/admin.py).
    managed_by = ""

    def get_queryset(self, request):
        return (
            policy_versions_with_running_counts(self.model._default_manager.all())
            .filter(policy__managed_by=self.managed_by)
            .select_related("policy", "published_by")
        )

    def has_change_permission(self, request, obj=None):
        return (obj is None or obj.is_editable) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return (obj is None or obj.is_editable) and super().has_delete_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "policy":
            kwargs["queryset"] = ApprovalPolicy.objects.filter(managed_by=self.managed_by)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "policy"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:  # a new draft gets the policy's next number
            obj.number = (
                PolicyVersion.objects.filter(policy=obj.policy).aggregate(n=Max("number"))["n"] or 0
            ) + 1
        super().save_model(request, obj, form, change)

    @admin.display(description=_("stages"))
    def stage_list(self, obj):
        return format_html_join(
            "",
            "<div>{}</div>",
            ((str(stage),) for stage in obj.stages.select_related("group").order_by("order")),
        )

    @admin.display(description=_("running processes"))
    def running_processes(self, obj):
        if obj.pk is None:
            return "-"
        pinned = running_pinned(obj)
        if not pinned:
            return "0 running"
        links = []
        for descriptor, count in pinned:
            opts = descriptor.flow.process_class._meta
            label = f"{count} running" if len(pinned) == 1 else f"{descriptor.title}: {count} running"
            try:
                url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
            except NoReverseMatch:  # the process type has no admin
                links.append((label, ""))
                continue
            links.append((label, f"{url}?{descriptor.policy_field}__id__exact={obj.pk}&status__exact=NEW"))
        return format_html_join(
            ", ",
            "{}",
            ((format_html('<a href="{}">{}</a>', url, label) if url else label,) for label, url in links),
        )

    @admin.display(description=_("before publishing"))
    def problems(self, obj):
        if obj.pk is None or not obj.is_editable:
            return "-"
        errors = policy_version_validate(version=obj)
        if not errors:
            return "Ready to publish."
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((e,) for e in errors)))

    @admin.action(description=_("Publish the selected draft (it becomes the active version)"))
    def publish(self, request, queryset):
        for version in queryset.order_by("number"):
            try:
                policy_version_publish(version=version, user=request.user)
            except ValidationError as exc:
                for message in exc.messages:
                    self.message_user(request, f"{version}: {message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{version.policy} v{version.number} is published: the next request follows it.",
                    messages.SUCCESS,
                )

    @admin.action(description=_("Copy to a new draft"))
    def copy_to_draft(self, request, queryset):
        for version in queryset:
            draft = policy_version_copy(version=version, user=request.user)
            self.message_user(
                request, f"{draft.policy} v{draft.number} is a new draft (a copy of v{version.number})."
            )
