from django.urls import path

from reports.views import annual, dashboard, documents
from reports.views import builder as report_builder

app_name = "reports"

urlpatterns = [
    # Dashboard (reports.views.dashboard)
    path("", dashboard.index, name="index"),
    # Annual complaints and suggestions report (reports.views.annual)
    path("annual/", annual.annual_report, name="annual"),
    path("annual/pdf/", annual.annual_report_pdf, name="annual_pdf"),
    path("annual/csv/", annual.annual_report_csv, name="annual_csv"),
    path("annual/open-data.csv", annual.annual_open_data_csv, name="annual_open_data_csv"),
    path("annual/open-data.json", annual.annual_open_data_json, name="annual_open_data_json"),
    # Report builder (reports.views.builder)
    path("builder/", report_builder.report_list, name="report_list"),
    path("builder/new/", report_builder.report_new, name="report_new"),
    path("builder/preview/", report_builder.report_preview, name="report_preview"),
    path("builder/<int:pk>/", report_builder.report_detail, name="report_detail"),
    path("builder/<int:pk>/edit/", report_builder.report_edit, name="report_edit"),
    path("builder/<int:pk>/share/", report_builder.report_share, name="report_share"),
    path("builder/<int:pk>/schedule/", report_builder.report_schedule, name="report_schedule"),
    path("builder/<int:pk>/delete/", report_builder.report_delete, name="report_delete"),
    path(
        "builder/<int:pk>/export/<str:file_format>/",
        report_builder.report_export,
        name="report_export",
    ),
    # My documents: document jobs (reports.views.documents)
    path("documents/", documents.document_list, name="documents"),
    path("documents/<int:pk>/", documents.document_detail, name="document"),
    path("documents/<int:pk>/download/", documents.document_download, name="document_download"),
]
