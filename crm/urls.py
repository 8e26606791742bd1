from django.conf import settings
from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.urls import include, path
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from crm import audit_views, public_views, views
from crm.forms import LoginForm

admin.site.site_header = format_lazy(_("{site} administration"), site=settings.SITE_NAME)
admin.site.site_title = settings.SITE_NAME
admin.site.index_title = _("Catalogues, units, calendars, roles and templates")

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
    path("audit/", audit_views.audit_list, name="audit_list"),
    path("audit/export/", audit_views.audit_export, name="audit_export"),
    path("accounts/login/", LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("citizens/", include("citizens.urls")),
    path("cases/", include("cases.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("sales/", include("sales.urls")),
    path("reports/", include("reports.urls")),
    # The public site (sede electrónica): no login.
    path("sede/verificar/", public_views.verify_document, name="verify_document"),
    path(
        "sede/verificar/<str:code>/descargar/",
        public_views.download_document,
        name="download_document",
    ),
    # The promotion module's interest form (sales.views.public), before cases' /sede/<type>/.
    path("sede/interes/", include("sales.public_urls")),
    # Campaign email: unsubscribe, preference centre, tracking (before the cases' /sede/<code>/).
    path("sede/correo/", include("campaigns.public_urls")),
    # After verificar/: cases' public forms take /sede/<type code>/.
    path("sede/", include("cases.public_urls")),
]

handler403 = "crm.views.permission_denied"
handler500 = "crm.views.server_error"
