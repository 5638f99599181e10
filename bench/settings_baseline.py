"""Settings of the approvals benchmark's baseline processes: the portal's, plus `bench` as an app,
so that viewflow can name the plain baseline flow (bench/baseline_flow.py)."""

from portal.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]  # noqa: F405
