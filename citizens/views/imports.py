"""Import of people and organisations: upload, columns, dry run, run with progress, report.

Only for ``citizens.manage``; an import holds a file of personal data, so each user sees only
their own imports (``ImportJob.objects.for_user``; another's is a 404).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from citizens import import_files, imports
from citizens.import_forms import MappingForm, ReadingForm, UploadForm
from citizens.models import ImportJob, ImportRow
from crm.audit import log_event
from crm.models import AuditAction
from crm.permissions import permission_required

Status = ImportJob.Status
EDITABLE = (Status.UPLOADED, Status.MAPPED, Status.VALIDATED)
RECENT_JOBS = 20
ACTIONS = (  # the dry run's tables, in the order shown
    (ImportRow.Action.CREATE, "create"),
    (ImportRow.Action.UPDATE, "update"),
    (ImportRow.Action.SKIP, "skip"),
    (ImportRow.Action.REJECT, "reject"),
)


def _job(request: HttpRequest, pk: int) -> ImportJob:
    return get_object_or_404(ImportJob.objects.for_user(request.user), pk=pk)


def job_url(job: ImportJob) -> str:
    """The page where a job is at now."""
    if job.status in (Status.UPLOADED, Status.MAPPED):
        return reverse("citizens:import_mapping", args=[job.pk])
    if job.status == Status.VALIDATED:
        return reverse("citizens:import_dry_run", args=[job.pk])
    return reverse("citizens:import_progress", args=[job.pk])


@require_http_methods(["GET", "POST"])
@permission_required("citizens.manage")
def import_upload(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = imports.job_create(
                actor=request.user,
                kind=form.cleaned_data["kind"],
                upload=form.cleaned_data["file"],
                encoding=form.cleaned_data["encoding"],
                delimiter=form.cleaned_data["delimiter"],
            )
        except import_files.ImportFileError as error:
            form.add_error("file", str(error))
        else:
            return redirect("citizens:import_mapping", pk=job.pk)
    jobs = list(ImportJob.objects.for_user(request.user).order_by("-created_at")[:RECENT_JOBS])
    for job in jobs:
        job.url = job_url(job)
    return render(
        request,
        "citizens/import_upload.html",
        {"form": form, "jobs": jobs},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@permission_required("citizens.manage")
def import_mapping(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    if job.status not in EDITABLE:
        return redirect(job_url(job))
    remembered = import_files.remembered_mapping(request.user, job.kind)
    initial = job.column_mapping or import_files.suggest_mapping(job.kind, job.headers, remembered)
    targets = import_files.targets_for(job.kind)
    form_args = {"kind": job.kind, "headers": job.headers, "targets": targets}
    form = MappingForm(**form_args, initial_mapping=initial)
    reading_form = ReadingForm(initial={"encoding": job.encoding, "delimiter": job.delimiter})
    if request.method == "POST" and "reread" in request.POST:
        reading_form = ReadingForm(request.POST)
        if reading_form.is_valid():
            try:
                imports.job_set_reading(job=job, actor=request.user, **reading_form.cleaned_data)
            except import_files.ImportFileError as error:
                reading_form.add_error(None, str(error))
            else:
                messages.info(request, _("The file has been read again."))
                return redirect("citizens:import_mapping", pk=job.pk)
    elif request.method == "POST":
        form = MappingForm(request.POST, **form_args, initial_mapping=initial)
        if form.is_valid():
            imports.job_set_mapping(job=job, actor=request.user, mapping=form.mapping)
            return redirect("citizens:import_progress", pk=job.pk)
    try:
        preview = imports.preview(job)
    except (import_files.ImportFileError, UnicodeDecodeError, OSError):
        preview = []
    columns = [
        {"field": bound, "examples": [row[index] for row in preview if row[index]][:3]}
        for index, bound in enumerate(form.column_fields())
    ]
    invalid = bool(form.errors or reading_form.errors)
    return render(
        request,
        "citizens/import_mapping.html",
        {
            "job": job,
            "form": form,
            "columns": columns,
            "reading_form": reading_form,
            "preview": preview,
            "remembered": bool(remembered),
        },
        status=400 if invalid else 200,
    )


@require_GET
@permission_required("citizens.manage")
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The job's progress; htmx asks for the panel alone every two seconds while it runs."""
    job = _job(request, pk)
    if request.headers.get("HX-Request"):
        if job.status == Status.VALIDATED:
            response = HttpResponse(status=200)
            response["HX-Redirect"] = reverse("citizens:import_dry_run", args=[job.pk])
            return response
        response = render(request, "citizens/import_progress_panel.html", {"job": job})
        if not job.is_active:
            response.status_code = 286  # htmx: stop polling
        return response
    return render(request, "citizens/import_progress.html", {"job": job})


@require_GET
@permission_required("citizens.manage")
def import_dry_run(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    if not job.dry_run:
        return redirect(job_url(job))
    counts = job.dry_run.get("counts", {})
    samples = job.dry_run.get("rows", {})
    labels = import_files.target_labels(job.kind)
    describe = imports.ErrorDescriber(job)
    sections = []
    for action, key in ACTIONS:
        rows = []
        for sample in samples.get(key, []):
            rows.append(
                {
                    **sample,
                    "reasons": describe(sample.get("errors", [])),
                    "change_labels": [labels.get(name, name) for name in sample.get("changes", [])],
                }
            )
        sections.append(
            {"key": key, "label": action.label, "count": counts.get(key, 0), "rows": rows}
        )
    # The page shows personal data of the file's people (ENS: reads are recorded).
    log_event(actor=request.user, action=AuditAction.READ, obj=job, changes={"what": "dry run"})
    to_write = counts.get("create", 0) + counts.get("update", 0)
    return render(
        request,
        "citizens/import_dry_run.html",
        {
            "job": job,
            "sections": sections,
            "to_write": to_write,
            "shown": imports.SAMPLE_ROWS,
        },
    )


@require_POST
@permission_required("citizens.manage")
def import_run(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    try:
        imports.job_start(job=job, actor=request.user)
    except imports.WrongStatus:
        messages.error(request, _("This import cannot be started now."))
        return redirect(job_url(job))
    messages.success(request, _("The import has started."))
    return redirect("citizens:import_progress", pk=job.pk)


@require_POST
@permission_required("citizens.manage")
def import_resume(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    try:
        imports.job_resume(job=job, actor=request.user)
    except imports.WrongStatus:
        messages.error(request, _("Only a failed import can be resumed."))
    else:
        messages.success(request, _("The import goes on after the last row it imported."))
    return redirect("citizens:import_progress", pk=job.pk)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: str) -> str:
    # A cell a spreadsheet would run as a formula is written as text (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _report_lines(job: ImportJob) -> Iterator[str]:
    writer = csv.writer(_Echo(), delimiter=job.delimiter or ";")
    yield "\ufeff"  # a BOM: spreadsheets then read the file as UTF-8
    yield writer.writerow([_("Row"), *job.headers, _("Reasons")])
    for number, values, reasons in imports.rejected_rows(job):
        cells = (values + [""] * len(job.headers))[: len(job.headers)]
        yield writer.writerow([number, *map(_cell, cells), " | ".join(reasons)])


@require_GET
@permission_required("citizens.manage")
def import_rejected_report(request: HttpRequest, pk: int) -> HttpResponse:
    """Every rejected row as it was in the file, with the reasons: fix them and import it."""
    job = _job(request, pk)
    log_event(
        actor=request.user,
        action=AuditAction.EXPORT,
        obj=job,
        changes={"what": "rejected rows", "rows": job.rejected_count},
    )
    name = get_valid_filename(job.original_name.rsplit(".", 1)[0]) or "import"
    response = StreamingHttpResponse(_report_lines(job), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-rejected.csv"'
    return response
