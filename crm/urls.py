from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from crm import views

admin.site.site_header = _("%(site)s administration") % {"site": settings.SITE_NAME}
admin.site.site_title = settings.SITE_NAME
admin.site.index_title = _("Catalogues, units, calendars, roles and templates")

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("citizens/", include("citizens.urls")),
    path("cases/", include("cases.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("sales/", include("sales.urls")),
    path("reports/", include("reports.urls")),
]
