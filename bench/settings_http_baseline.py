"""Settings of the approvals benchmark's baseline through HTTP: plain viewflow behind Django's
default middleware (sessions, CSRF, auth, messages), served by the same uvicorn as the portal,
on the portal's database. No portal app: no audit, notifications, task rows, policy or logging
middleware. Only the baseline flow is mounted (bench/urls_baseline.py)."""

from portal.settings import *  # noqa: F403

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_filters",
    "viewflow",
    "viewflow.workflow",
    "bench",
]
MIDDLEWARE = [  # Django's startproject defaults
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "bench.urls_baseline"
TEMPLATES[0]["DIRS"] = []  # noqa: F405 - viewflow's own templates, not the portal's overrides
TEMPLATES[0]["OPTIONS"]["context_processors"] = [  # noqa: F405
    "django.template.context_processors.request",
    "django.contrib.auth.context_processors.auth",
    "django.contrib.messages.context_processors.messages",
]
# Django's own: the portal's login guard (axes) is not installed here. Its users are ordinary
# users whose permissions ModelBackend reads (bench/approvals.py create_baseline_people).
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
