"""ASGI entry of the approvals benchmark's baseline through HTTP (plain Django, no Channels)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_http_baseline")
application = get_asgi_application()
