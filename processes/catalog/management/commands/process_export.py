"""`manage.py process_export SLUG [--version N] [--format json|bpmn] [--output FILE]`: a process
type's version as a portable definition (processes/catalog/definitions.py) or as BPMN 2.0
(processes/catalog/bpmn.py), to stdout or a file. `--format bpmn` also exports a code-defined
process type by its flow's label (purchase, order): processes/bpmn.py."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from processes.bpmn import flow_bpmn
from processes.catalog.bpmn import version_bpmn
from processes.catalog.definitions import definition_dumps, definition_export
from processes.catalog.selectors import type_by_slug, type_version
from processes.registry import registry


class Command(BaseCommand):
    help = "Export a process type's version (default: the published one, else the newest) as JSON or BPMN."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version is the process type's version here; it replaces Django's (the portal's own).
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the process type's address, for example vacation-request")
        parser.add_argument("--version", type=int, dest="number", help="the version's number")
        parser.add_argument(
            "--format", choices=["json", "bpmn"], default="json", help="json (default) or bpmn"
        )
        parser.add_argument("--output", help="write to this file instead of stdout")

    def handle(self, *args, slug, number, output, format, **options):
        version = type_version(slug, number)
        flow = next((f for f in registry.flows() if f.instance.flow_label == slug), None)
        if version is None and format == "bpmn" and flow is not None and number is None:
            text = flow_bpmn(flow).decode("utf-8")  # a code-defined process type
        elif version is None:
            if number is not None and type_by_slug(slug) is not None:
                raise CommandError(f'The process type "{slug}" has no version {number}.')
            raise CommandError(f'There is no process type "{slug}".')
        elif format == "bpmn":
            text = version_bpmn(version).decode("utf-8")
        else:
            text = definition_dumps(definition_export(version))
        if output is None:
            self.stdout.write(text, ending="")
            return
        Path(output).write_text(text, encoding="utf-8")
        what = f"{slug} v{version.number} ({version.status})" if version is not None else slug
        self.stdout.write(f"Exported {what} to {output}.")
