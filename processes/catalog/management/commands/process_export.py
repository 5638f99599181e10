"""`manage.py process_export SLUG [--version N] [--output FILE]`: a process type's version as a
portable definition (processes/catalog/definitions.py), to stdout or a file."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from processes.catalog.definitions import definition_dumps, definition_export
from processes.catalog.selectors import type_by_slug, type_version


class Command(BaseCommand):
    help = "Export a process type's version (default: the published one, else the newest) as JSON."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version is the process type's version here; it replaces Django's (the portal's own).
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the process type's address, for example vacation-request")
        parser.add_argument("--version", type=int, dest="number", help="the version's number")
        parser.add_argument("--output", help="write to this file instead of stdout")

    def handle(self, *args, slug, number, output, **options):
        version = type_version(slug, number)
        if version is None:
            if number is not None and type_by_slug(slug) is not None:
                raise CommandError(f'The process type "{slug}" has no version {number}.')
            raise CommandError(f'There is no process type "{slug}".')
        text = definition_dumps(definition_export(version))
        if output is None:
            self.stdout.write(text, ending="")
            return
        Path(output).write_text(text, encoding="utf-8")
        self.stdout.write(f"Exported {slug} v{version.number} ({version.status}) to {output}.")
