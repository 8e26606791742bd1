from django.urls import path

from crm.views import module_index

app_name = "citizens"

urlpatterns = [
    path("", module_index, {"module": "citizens"}, name="index"),
]
