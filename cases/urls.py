from django.urls import path

from crm.views import module_index

app_name = "cases"

urlpatterns = [
    path("", module_index, {"module": "cases"}, name="index"),
]
