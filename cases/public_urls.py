"""The public site's pages for cases, included at /sede/ (crm/urls.py). The fixed words come
before ``<code>/``, which takes any case type's code."""

from django.urls import path

from . import public_views

app_name = "cases_public"

urlpatterns = [
    path("", public_views.index, name="index"),
    path("justificante/", public_views.receipt, name="receipt"),
    path("seguimiento/", public_views.tracking, name="tracking"),
    path("accesibilidad/", public_views.accessibility, name="accessibility"),
    path("<slug:code>/", public_views.case_form, name="form"),
]
