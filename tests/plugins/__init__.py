"""Process plug-ins that exist only in the test suite (installed through PORTAL_EXTRA_APPS)."""
