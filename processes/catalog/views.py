"""Thin views of the process catalog: each type's page and start form, and the stage decision."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.utils.translation import gettext as _
from django.views import generic
from viewflow.views import FormLayoutMixin

from processes.catalog import selectors, services
from processes.catalog.fields import form_class
from processes.catalog.forms import DecisionForm
from processes.views import TaskDecisionView


class CatalogDecisionView(TaskDecisionView):
    form_class = DecisionForm

    def decide(self, form) -> None:
        services.catalog_decide(
            activation=self.activation,
            user=self.request.user,
            approved=form.is_yes(),
            comment=form.cleaned_data["comment"],
        )


class _TypeMixin:
    """A type the user may start, by its slug; anything else is a 404 (no hint that it exists)."""

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)  # type: ignore[misc]  # a mixin of views
        version = selectors.type_start_version(kwargs["slug"], request.user)
        if version is None:
            raise Http404("No such process type")
        self.version = version
        self.process_type = version.policy.process_type

    def request_url(self, process) -> str:
        return process.flow_class.instance.reverse("process_detail", args=[process.pk])


class TypeIndexView(_TypeMixin, generic.TemplateView):
    """A type's page: what it is for, a button to start one, and the user's own requests of it."""

    template_name = "catalog/type_index.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        requests = list(selectors.requests_of(self.request.user, self.process_type)[:50])
        context.update(
            process_type=self.process_type,
            version=self.version,
            rows=[{"process": process, "url": self.request_url(process)} for process in requests],
        )
        return context


class TypeStartView(_TypeMixin, FormLayoutMixin, generic.FormView):
    """A type's start form: built from the published version's fields, validated on the server
    against that same version, which the request then pins."""

    template_name = "catalog/type_start.html"

    def get_form_class(self):
        return form_class(selectors.version_fields(self.version))

    @property
    def layout(self):  # FormLayoutMixin's: the form class is built per request
        return self.get_form_class().layout

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "process_type": self.process_type,
            "version": self.version,
        }

    def form_valid(self, form):
        values = form.cleaned_values()
        try:
            process = services.catalog_request_start(
                process_type=self.process_type,
                requester=self.request.user,
                values=values,
                version=self.version,
            )
        except PermissionDenied:
            raise Http404("No such process type") from None
        except ValidationError as exc:  # published elsewhere meanwhile: say so on the form
            for message in exc.messages:
                form.add_error(None, message)
            return self.form_invalid(form)
        messages.success(
            self.request,
            _("%(subject)s was submitted as #%(pk)s.") % {"subject": process.subject, "pk": process.pk},
        )
        return HttpResponseRedirect(self.request_url(process))
