from django.urls import path

from crm.views import module_index

app_name = "sales"

urlpatterns = [
    path("", module_index, {"module": "sales"}, name="index"),
]
