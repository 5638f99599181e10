from django.conf import settings

from processes.branding import PRODUCT_NAME

__all__ = ["PRODUCT_NAME", "product"]


def product(request):
    """The product's name and the live-notification endpoint, for the base template."""
    return {"PRODUCT_NAME": PRODUCT_NAME, "PORTAL_BASE_URL": settings.PORTAL_BASE_URL}
