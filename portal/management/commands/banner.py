from django.conf import settings
from django.core.management.base import BaseCommand

from processes.management.commands.demo_data import DEMO_PASSWORD, USERS


class Command(BaseCommand):
    help = "Print where the portal answers and who can log in."

    def handle(self, *args, **options):
        base = settings.PORTAL_BASE_URL
        lines = [
            "",
            f"  Approvals Portal  {base}/",
            f"  admin             {base}/admin/",
            f"  health            {base}/healthz   {base}/readyz",
            f"  demo logins       {', '.join(name for name, *_ in USERS)} (password: {DEMO_PASSWORD})",
            f"  mail              {getattr(settings, 'EMAIL_FILE_PATH', settings.EMAIL_BACKEND)}",
            "  stop              Ctrl-C",
            "",
        ]
        self.stdout.write("\n".join(lines))
