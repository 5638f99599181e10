"""Expense claims: a test-only process plug-in, to prove a process plugs in through its
descriptor alone (issue 12). Installed only by the test run (PORTAL_EXTRA_APPS in pyproject)."""
