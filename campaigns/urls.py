from django.urls import path

from crm.views import module_index

app_name = "campaigns"

urlpatterns = [
    path("", module_index, {"module": "campaigns"}, name="index"),
]
