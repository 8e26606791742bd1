"""A test-only URLconf: the CRM's URLs plus two views that fail on purpose, to see the 403 and
500 pages as a person would. Tests switch to it with ``settings.ROOT_URLCONF = "tests.urls"``.
``broken_context`` is a context processor that fails, for the 500 page's last resort."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from crm import urls as crm_urls


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("This test view fails on purpose.")


def broken_context(request: HttpRequest) -> dict:
    raise RuntimeError("This context processor fails on purpose.")


urlpatterns = [
    path("", include("crm.urls")),
    path("test/forbidden/", forbidden),
    path("test/broken/", broken),
]

# Django takes the error views from the root URLconf: use the CRM's own, where it has them.
handler400 = getattr(crm_urls, "handler400", "django.views.defaults.bad_request")
handler403 = getattr(crm_urls, "handler403", "django.views.defaults.permission_denied")
handler404 = getattr(crm_urls, "handler404", "django.views.defaults.page_not_found")
handler500 = getattr(crm_urls, "handler500", "django.views.defaults.server_error")
