"""viewflow's words that the portal's German says otherwise (ADR 0021: claim = übernehmen, process
= Vorgang). Marked here so makemessages puts them in the project's catalog, which Django reads
before viewflow's; never imported."""

from django.utils.translation import gettext_noop

VIEWFLOW_TERMS = [
    gettext_noop("Assign and continue"),  # viewflow: "Zuordnen und fortfahren"
    gettext_noop("Assign selected tasks"),
    gettext_noop("Unassign"),
    gettext_noop("Assigned"),
]
