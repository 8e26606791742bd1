"""The public pages of campaign email (no login), included at /sede/correo/ (crm/urls.py):
unsubscribe (RFC 8058 one-click), the preference centre, and the tracking pixel and links of
campaigns that turned tracking on."""

from django.urls import path

from . import public_views

app_name = "campaigns_public"

urlpatterns = [
    path("baja/<str:token>/", public_views.unsubscribe, name="unsubscribe"),
    path("baja/<str:token>/preferencias/", public_views.preferences, name="preferences"),
    path("a/<str:token>/pixel.gif", public_views.opened, name="open"),
    path("c/<str:token>/", public_views.click, name="click"),
]
