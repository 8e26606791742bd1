from django.conf import settings
from django.http import HttpRequest

from crm.modules import visible_modules


def site(request: HttpRequest) -> dict:
    return {
        "SITE_NAME": settings.SITE_NAME,
        "BODY_NAME": settings.BODY_NAME,
        "nav_modules": visible_modules(request),
    }
