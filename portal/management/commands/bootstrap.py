from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "What `make run` does before it starts the servers: preflight, migrate, collectstatic, demo data, banner."

    def handle(self, *args, **options):
        call_command("preflight")
        call_command("migrate", interactive=False, verbosity=1)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("demo_data")
        call_command("banner")
