from django.urls import path

from citizens.views import directory, duplicates, imports, organizations, privacy, records

app_name = "citizens"

urlpatterns = [
    # Finding anyone fast (citizens/views/directory.py).
    path("", directory.person_list, name="index"),
    path("", directory.person_list, name="person_list"),
    path("organisations/", directory.organization_list, name="organization_list"),
    path("lookup/", directory.caller_lookup, name="lookup"),
    path("export/csv/", directory.person_export, {"file_format": "csv"}, name="people_export_csv"),
    path(
        "export/xlsx/", directory.person_export, {"file_format": "xlsx"}, name="people_export_xlsx"
    ),
    # The records of people and organisations (citizens/views/records.py, organizations.py).
    path("people/new/", records.person_new, name="person_new"),
    path("people/<int:pk>/", records.person_detail, name="person_detail"),
    path("people/<int:pk>/edit/", records.person_edit, name="person_edit"),
    path(
        "people/<int:pk>/interactions/new/",
        records.person_interaction_new,
        name="person_interaction_new",
    ),
    path(
        "people/<int:pk>/relationships/new/",
        records.person_relationship_new,
        name="person_relationship_new",
    ),
    path("organisations/new/", organizations.organization_new, name="organization_new"),
    path("organisations/<int:pk>/", organizations.organization_detail, name="organization_detail"),
    path("organisations/<int:pk>/edit/", organizations.organization_edit, name="organization_edit"),
    path(
        "organisations/<int:pk>/interactions/new/",
        organizations.organization_interaction_new,
        name="organization_interaction_new",
    ),
    path(
        "organisations/<int:pk>/relationships/new/",
        organizations.organization_relationship_new,
        name="organization_relationship_new",
    ),
    path("organisations/<int:pk>/teams/new/", organizations.team_new, name="team_new"),
    path(
        "organisations/<int:pk>/teams/<int:team_pk>/members/new/",
        organizations.team_member_new,
        name="team_member_new",
    ),
    path(
        "organisations/<int:pk>/teams/<int:team_pk>/members/<int:person_pk>/remove/",
        organizations.team_member_delete,
        name="team_member_delete",
    ),
    path("people/<int:pk>/privacy/", privacy.person_privacy, name="person_privacy"),
    path("people/<int:pk>/privacy/consent/", privacy.consent_add, name="consent_add"),
    path("people/<int:pk>/privacy/requests/", privacy.data_request_add, name="data_request_add"),
    path(
        "people/<int:pk>/privacy/requests/<int:request_pk>/close/",
        privacy.data_request_close,
        name="data_request_close",
    ),
    path(
        "people/<int:pk>/privacy/restriction/",
        privacy.person_restriction,
        name="person_restriction",
    ),
    path("people/<int:pk>/privacy/block/", privacy.person_block, name="person_block"),
    path(
        "people/<int:pk>/privacy/export.<str:fmt>",
        privacy.person_export,
        name="person_export",
    ),
    path("data-requests/", privacy.data_request_list, name="data_request_list"),
    # Possible duplicates: review, merge, dismiss (citizens/views/duplicates.py).
    path("duplicates/", duplicates.duplicate_list, name="duplicate_list"),
    path("duplicates/scan/", duplicates.duplicate_scan, name="duplicate_scan"),
    path("duplicates/<int:pk>/", duplicates.duplicate_review, name="duplicate_review"),
    path("duplicates/<int:pk>/merge/", duplicates.duplicate_merge, name="duplicate_merge"),
    path("duplicates/<int:pk>/dismiss/", duplicates.duplicate_dismiss, name="duplicate_dismiss"),
    # Importing people and organisations (citizens/views/imports.py).
    path("import/", imports.import_upload, name="import_upload"),
    path("import/<int:pk>/columns/", imports.import_mapping, name="import_mapping"),
    path("import/<int:pk>/progress/", imports.import_progress, name="import_progress"),
    path("import/<int:pk>/check/", imports.import_dry_run, name="import_dry_run"),
    path("import/<int:pk>/run/", imports.import_run, name="import_run"),
    path("import/<int:pk>/resume/", imports.import_resume, name="import_resume"),
    path(
        "import/<int:pk>/rejected.csv",
        imports.import_rejected_report,
        name="import_rejected_report",
    ),
]
