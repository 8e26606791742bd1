from django.urls import path

from .views import public

app_name = "sales_public"

urlpatterns = [
    path("", public.interest_form, name="interest"),
    path("gracias/", public.thanks, name="thanks"),
]
