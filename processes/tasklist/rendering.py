"""The task list's table rows and filter fields as HTML, built in Python.

A page has 25 rows of some 15 values each. Through the template engine every value is a node
with its own lookup, escape and (for the labels) translation, which made the rows about half of
a page's server time (docs/benchmarks.md, tasklist). Here the labels are translated once per
page and each row is one string: every value from the database goes through `escape`, the rest
is fixed markup. The filter form's seven widgets went through Django's template-based widget
renderer (an included template per widget and per option); `filter_fields_html` writes the same
controls from the same form (its fields' attributes, values, choices and errors), and
`control_html` the "save filter" form's four.
`templates/processes/tasklist/list.html` holds the page around these parts.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from processes.tasklist.models import Priority

NONE = "&ndash;"  # an empty cell


class RowsRenderer:
    """Renders the `<tr>` rows of one task list page (`page`: inbox, queue, archive or team)."""

    def __init__(self, *, page: str, here_quoted: str) -> None:
        self.page = page
        self.here_quoted = escape(here_quoted)
        self.labels = {
            "overdue": escape(_("Overdue")),
            "claim": escape(_("Claim")),
            "release": escape(_("Release")),
            "delegate": escape(_("Delegate")),
            "reassign": escape(_("Reassign")),
            "personal": escape(_("Yours alone")),
            "queue": escape(_("queue")),
        }
        self.priorities = {value: escape(label) for value, label in Priority.choices}

    def render(self, items: list[dict[str, Any]]) -> SafeString:
        return mark_safe("".join(self.row(item) for item in items))  # noqa: S308 - every value escaped in row()

    def row(self, item: dict[str, Any]) -> str:
        row, page, labels = item["row"], self.page, self.labels
        task_id = int(row.task_id)
        url = escape(item["url"])
        cells = []
        if page == "queue":
            cells.append(
                f'<td><input type="checkbox" name="task" value="{task_id}" form="row-actions" '
                f'aria-label="#{task_id}"></td>'
            )
        cells.append(
            f'<td><a href="{url}">#{int(row.process_id)}</a><br><small>{escape(item["flow_title"])}</small></td>'
        )
        on_behalf = ""
        if item.get("on_behalf"):
            text = _("on behalf of %(user)s") % {"user": item["on_behalf"]}
            on_behalf = f'<br><small class="portal-onbehalf">{escape(text)}</small>'
        cells.append(
            f'<td><a href="{url}">{escape(row.subject)}</a><br><small>{escape(row.requester)}</small>{on_behalf}</td>'
        )
        cells.append(f'<td class="portal-num">{escape(item["amount"]) or NONE}</td>')
        cells.append(f"<td>{escape(row.stage_name)}</td>")
        if row.due_at:
            flag = (
                f'<strong class="portal-overdue__label">{labels["overdue"]}</strong><br>'
                if item["overdue"]
                else ""
            )
            cells.append(f"<td>{flag}<time>{escape(item['due'])}</time></td>")
        else:
            cells.append(f"<td>{NONE}</td>")
        priority = int(row.priority)
        cells.append(
            f'<td><span class="portal-priority portal-priority--{priority}">'
            f"{self.priorities.get(priority, priority)}</span></td>"
        )
        cells.append(f"<td>{escape(item['age'])}</td>")
        if page == "team":
            owner = escape(row.owner.get_username()) if row.owner_id else f"<em>{labels['queue']}</em>"
            cells.append(f"<td>{owner}</td>")
        if page != "archive":
            cells.append(f'<td class="portal-actions">{self.actions(item)}</td>')
        overdue = "portal-overdue" if item["overdue"] else ""
        return f'<tr id="task-{task_id}" class="{overdue}">{"".join(cells)}</tr>'

    def actions(self, item: dict[str, Any]) -> str:
        page, labels = self.page, self.labels
        if page == "queue":
            return self._button(item["claim_url"], labels["claim"])
        if item["personal"]:
            return f"<small>{labels['personal']}</small>"
        if page == "inbox":
            return self._button(item["unclaim_url"], labels["release"]) + self._link(
                item["delegate_url"], labels["delegate"]
            )
        if page == "team":
            return self._link(item["reassign_url"], labels["reassign"])
        return ""

    @staticmethod
    def _button(url: str, label: str) -> str:
        return (
            f'<button class="mdc-button" type="submit" form="row-actions" formaction="{escape(url)}">'
            f'<span class="mdc-button__label">{label}</span></button>'
        )

    def _link(self, url: str, label: str) -> str:
        return (
            f'<a class="mdc-button" href="{escape(url)}?next={self.here_quoted}">'
            f'<span class="mdc-button__label">{label}</span></a>'
        )


def _attrs(attrs: dict[str, Any]) -> str:
    """HTML attributes as Django's widgets write them: True alone, False and None left out."""
    out = []
    for name, value in attrs.items():
        if value is True:
            out.append(f" {name}")
        elif value is not False and value is not None:
            out.append(f' {name}="{escape(value)}"')
    return "".join(out)


def control_html(bound: forms.BoundField) -> SafeString:
    """`bound`'s control (input or select) as its widget writes it, without the template engine."""
    return mark_safe(_control(bound))  # noqa: S308 - attributes, values and choices escaped in _control


def _control(bound: forms.BoundField) -> str:
    widget = bound.field.widget
    attrs = bound.build_widget_attrs({**widget.attrs, "id": bound.auto_id})
    value = bound.value()
    if isinstance(widget, forms.Select):
        current = "" if value is None else str(value)
        options = "".join(
            f'<option value="{escape(choice)}"{" selected" if str(choice) == current else ""}>{escape(label)}</option>'
            for choice, label in bound.field.choices  # type: ignore[attr-defined]  # a Select's field has choices
        )
        return f'<select name="{bound.html_name}"{_attrs(attrs)}>{options}</select>'
    if isinstance(widget, forms.CheckboxInput):
        return f'<input type="checkbox" name="{bound.html_name}"{_attrs(attrs)}{" checked" if widget.check_test(value) else ""}>'
    shown = widget.format_value(value)
    value_attr = f' value="{escape(shown)}"' if shown is not None else ""
    return f'<input type="{widget.input_type}" name="{bound.html_name}"{value_attr}{_attrs(attrs)}>'


def filter_fields_html(form: forms.Form) -> SafeString:
    """The filter form's labelled controls with their errors, the "overdue" box last."""
    parts = []
    for bound in form:
        if bound.name == "overdue":
            continue
        error_class = " portal-field--error" if bound.errors else ""
        first = f' id="{bound.auto_id}_error"'  # what the control's aria-describedby names
        errors = "".join(
            f'<small class="portal-field__error"{first if index == 0 else ""}>{escape(error)}</small>'
            for index, error in enumerate(bound.errors)
        )
        parts.append(
            f'<label class="portal-field{error_class}"><span>{escape(bound.label)}</span>{_control(bound)}{errors}</label>'
        )
    overdue = form["overdue"]
    parts.append(f'<label class="portal-check">{_control(overdue)} {escape(overdue.label)}</label>')
    return mark_safe("\n".join(parts))  # noqa: S308 - labels, values, choices and errors escaped above
