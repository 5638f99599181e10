from django.core.management.base import BaseCommand

from portal.health import DependencyDown, run_checks


class Command(BaseCommand):
    help = "Check that the database, the Celery broker and the channel layer answer; one line per failure."

    def handle(self, *args, **options):
        results = run_checks()
        failing = [r for r in results if not r.ok]
        if failing:
            raise DependencyDown("\n".join(r.detail for r in failing))
        for result in results:
            self.stdout.write(f"ok: {result.name} ({result.detail})")
