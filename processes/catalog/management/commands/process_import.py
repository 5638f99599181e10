"""`manage.py process_import FILE [--publish] [--dry-run]`: import a portable definition
(processes/catalog/definitions.py) as a new process type or an existing type's next draft.
Problems go to stderr, one per line as `path: message`, and the command exits with status 1."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from processes.catalog.definitions import (
    DefinitionInvalid,
    definition_import,
    definition_loads,
    definition_notices,
    definition_slug,
    definition_validate,
)
from processes.catalog.selectors import type_by_slug, type_next_version_number


class Command(BaseCommand):
    help = "Import a process type's definition (JSON; - reads stdin): a new type, or a type's next draft."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the definition, as process_export writes it; - for stdin")
        parser.add_argument("--publish", action="store_true", help="publish the imported version too")
        parser.add_argument("--dry-run", action="store_true", help="check it, and write nothing")

    def handle(self, *args, file, publish, dry_run, **options):
        try:
            data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.") from error
        try:
            doc = definition_loads(data)
            if dry_run:
                errors = definition_validate(doc)
                if errors:
                    raise DefinitionInvalid(errors)
            notices = definition_notices(doc)
            if not dry_run:
                version = definition_import(doc, publish=publish)
        except DefinitionInvalid as invalid:
            for problem in invalid.errors:
                self.stderr.write(str(problem))
            count = len(invalid.errors)
            raise CommandError(f"{count} problem{'s' if count != 1 else ''}: nothing was imported.") from None
        for notice in notices:
            self.stderr.write(f"notice: {notice}")
        if dry_run:
            slug = definition_slug(doc) or ""
            target = "a new process type" if type_by_slug(slug) is None else "the next draft of its type"
            number = type_next_version_number(slug)
            self.stdout.write(
                f"{file} is valid: it would be {slug} v{number}, {target}. Nothing was written."
            )
            return
        state = "published" if publish else "a draft"
        self.stdout.write(
            f"Imported {version.policy.process_type.slug} v{version.number} ({state}) from {file}."
        )
