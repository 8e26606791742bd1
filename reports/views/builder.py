"""The report builder's pages: my and shared reports, the builder with its preview, a saved
report with its exports, and the POST-only actions (save, share, schedule, delete).

A saved report is shown to its owner and to holders of a role it is shared with; to anyone else
it does not exist (404). Whoever opens it sees the rows their own scope gives them.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.permissions import permission_required
from crm.roles import role_label

from .. import builder, exports, services
from ..forms import Builder, ScheduleForm, ShareForm
from ..models import SavedReport
from ..scope import SUBJECTS, may_see, subjects_for

# PDFs of more records than this are made by a document job (reports.jobs) with a progress page.
PDF_SYNC_ROWS = 2000

access_required = permission_required("reports.access")


def _preview(result: builder.Result) -> dict:
    """What the preview table shows: the result's rows as the reader reads them."""
    sections, totals = exports.display_sections(result)
    numeric = [column.numeric for column in result.columns]

    def cells(row: list[str] | None) -> list[tuple[str, bool]] | None:
        return None if row is None else list(zip(row, numeric, strict=True))

    return {
        "title": result.title,
        "columns": result.columns,
        "sections": [
            {
                "heading": section.heading,
                "rows": [cells(row) for row in section.rows],
                "subtotal": cells(section.subtotal),
            }
            for section in sections
        ],
        "totals": [cells(row) for row in totals],
        "count": result.count,
        "grouped": result.grouped,
        "truncated": result.truncated,  # known once the sections were read
    }


def _visible_report(request: HttpRequest, pk: int) -> SavedReport:
    return get_object_or_404(
        SavedReport.objects.for_user(request.user).select_related("owner"), pk=pk
    )


def _own_report(request: HttpRequest, pk: int) -> SavedReport:
    report = _visible_report(request, pk)
    if report.owner_id != request.user.pk:
        raise PermissionDenied
    return report


@require_GET
@access_required
def report_list(request: HttpRequest) -> HttpResponse:
    reports = (
        SavedReport.objects.for_user(request.user)
        .select_related("owner")
        .prefetch_related("shared_with")
        .order_by("name", "pk")
    )
    for report in reports:
        report.subject_label = SUBJECTS[report.subject].label if report.subject in SUBJECTS else ""
        report.role_labels = [role_label(group.name) for group in report.shared_with.all()]
    mine = [report for report in reports if report.owner_id == request.user.pk]
    shared = [report for report in reports if report.owner_id != request.user.pk]
    return render(
        request,
        "reports/report_list.html",
        {
            "mine": mine,
            "shared": shared,
            "subjects": subjects_for(request.user),
        },
    )


def _builder_page(
    request: HttpRequest,
    form: Builder,
    *,
    report: SavedReport | None,
    status: int = 200,
    fresh: bool = False,
) -> HttpResponse:
    result = None
    if form.report is not None:
        title = (form.form["name"].value() or "").strip()
        result = _preview(builder.run(request.user, form.report, title=title))
    filter_rows = [
        {"form": filter_form, "spec": filter_form.spec} for filter_form in form.filters.forms
    ]
    return render(
        request,
        "reports/builder.html",
        {
            "builder": form,
            "form": form.form,
            "filters": form.filters,
            "filter_rows": filter_rows,
            "subject": SUBJECTS[form.subject],
            "report": report,
            "result": result,
            "fresh": fresh,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@access_required
def report_new(request: HttpRequest) -> HttpResponse:
    """GET ``?subject=``: an empty builder; POST: preview (``action=preview``) or save."""
    subject = request.POST.get("subject") or request.GET.get("subject")
    if not subject:
        return redirect("reports:report_list")
    if subject not in SUBJECTS or not may_see(request.user, subject):
        raise PermissionDenied
    return _build(request, subject=subject, report=None)


@require_http_methods(["GET", "POST"])
@access_required
def report_edit(request: HttpRequest, pk: int) -> HttpResponse:
    report = _own_report(request, pk)
    if not may_see(request.user, report.subject):
        raise PermissionDenied
    return _build(request, subject=report.subject, report=report)


def _build(request: HttpRequest, *, subject: str, report: SavedReport | None) -> HttpResponse:
    if request.method == "GET":
        definition = report.definition if report else _starting_definition(request, subject)
        form = Builder(
            user=request.user,
            subject=subject,
            definition=definition,
            name=report.name if report else "",
        )
        if report is None:
            # A new report: no preview (and no count over every row) until asked for.
            return _builder_page(request, form, report=None, fresh=True)
        try:
            form.report = builder.validate(request.user, definition)
        except builder.DefinitionError as error:
            problems = " ".join(message for found in error.errors.values() for message in found)
            messages.error(
                request,
                _("This report no longer runs as saved: %(problems)s") % {"problems": problems},
            )
        return _builder_page(request, form, report=report)
    form = Builder(user=request.user, subject=subject, data=request.POST)
    valid = form.is_valid()
    if not valid:
        if request.POST.get("action") == "save":
            messages.error(request, _("The report was not saved: please correct the errors."))
        return _builder_page(request, form, report=report, status=400)
    if request.POST.get("action") != "save":
        # A preview: the form again from the report as understood (values in their own
        # widgets, e.g. a typed list of statuses as the chosen options; a new empty filter).
        checked = form.report
        form = Builder(
            user=request.user,
            subject=subject,
            definition=checked.definition,
            name=form.form.cleaned_data.get("name", ""),
        )
        form.report = checked
        return _builder_page(request, form, report=report)
    name = form.form.cleaned_data.get("name", "").strip()
    if not name:
        form.form.add_error("name", _("Give the report a name to save it."))
        return _builder_page(request, form, report=report, status=400)
    saved = services.report_save(
        actor=request.user, name=name, definition=form.report.definition, report=report
    )
    messages.success(request, _("The report “%(name)s” was saved.") % {"name": saved.name})
    return redirect("reports:report_detail", pk=saved.pk)


@require_POST
@access_required
def report_preview(request: HttpRequest) -> HttpResponse:
    """The live preview while editing (htmx posts the builder's form on every change): the
    table for the report as typed, or what keeps it from running."""
    subject = request.POST.get("subject", "")
    if subject not in SUBJECTS or not may_see(request.user, subject):
        raise PermissionDenied
    form = Builder(user=request.user, subject=subject, data=request.POST)
    result = None
    if form.is_valid():
        title = form.form.cleaned_data.get("name", "")
        result = _preview(builder.run(request.user, form.report, title=title))
    return render(request, "reports/_builder_live.html", {"result": result, "builder": form})


def _starting_definition(request: HttpRequest, subject: str) -> dict:
    """A new report starts with the subject's first few columns."""
    columns = list(builder.columns_for(request.user, subject))[:4]
    return {"subject": subject, "columns": columns, "limit": builder.DEFAULT_LIMIT}


def _detail_page(
    request: HttpRequest,
    report: SavedReport,
    *,
    schedule_form: ScheduleForm | None = None,
    status: int = 200,
) -> HttpResponse:
    result = error = cleaned = None
    try:
        cleaned = builder.validate(request.user, report.definition)
    except builder.DefinitionError as problem:
        error = problem
    else:
        result = _preview(builder.run(request.user, cleaned, title=report.name))
    owner = report.owner_id == request.user.pk
    manages = owner and request.user.has_perm("reports.manage")
    context = {
        "report": report,
        "result": result,
        "definition_error": error,
        "description": builder.describe(cleaned) if cleaned is not None else "",
        "owner": owner,
        "manages": manages,
        "subject": SUBJECTS[report.subject],
        "formats": exports.FORMATS,
        "runs": report.runs.order_by("-created_at")[:5] if owner else [],
    }
    if manages:
        context["share_form"] = ShareForm(initial={"roles": list(report.shared_with.all())})
        context["schedule_form"] = schedule_form or ScheduleForm(
            owner=request.user,
            initial={
                "schedule": report.schedule,
                "file_format": report.file_format,
                "send_to_owner": report.send_to_owner,
                "recipients": list(report.recipients.all()),
            },
        )
    return render(request, "reports/report_detail.html", context, status=status)


@require_GET
@access_required
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail_page(request, _visible_report(request, pk))


@require_POST
@permission_required("reports.manage")
def report_share(request: HttpRequest, pk: int) -> HttpResponse:
    report = _own_report(request, pk)
    form = ShareForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The sharing was not changed: choose roles from the list."))
        return redirect("reports:report_detail", pk=report.pk)
    services.report_share(actor=request.user, report=report, groups=form.cleaned_data["roles"])
    messages.success(request, _("Sharing saved."))
    return redirect("reports:report_detail", pk=report.pk)


@require_POST
@permission_required("reports.manage")
def report_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    report = _own_report(request, pk)
    form = ScheduleForm(request.POST, owner=request.user)
    if not form.is_valid():
        return _detail_page(request, report, schedule_form=form, status=400)
    services.report_schedule(
        actor=request.user,
        report=report,
        schedule=form.cleaned_data["schedule"],
        file_format=form.cleaned_data["file_format"],
        send_to_owner=form.cleaned_data["send_to_owner"],
        recipients=form.cleaned_data["recipients"],
    )
    messages.success(request, _("Schedule saved."))
    return redirect("reports:report_detail", pk=report.pk)


@require_POST
@access_required
def report_delete(request: HttpRequest, pk: int) -> HttpResponse:
    report = _own_report(request, pk)
    name = report.name
    services.report_delete(actor=request.user, report=report)
    messages.success(request, _("The report “%(name)s” was deleted.") % {"name": name})
    return redirect("reports:report_list")


@require_GET
@access_required
def report_export(request: HttpRequest, pk: int, file_format: str) -> HttpResponse:
    """The saved report as CSV, XLSX or PDF, with the viewer's scope; audited. A PDF of many
    records is made by a document job and the page of the job follows."""
    if file_format not in exports.FORMATS:
        raise Http404
    report = _visible_report(request, pk)
    try:
        cleaned = builder.validate(request.user, report.definition)
    except builder.DefinitionError:
        messages.error(request, _("You may not run this report."))
        return redirect("reports:report_detail", pk=report.pk)
    if file_format == exports.PDF:
        job_page = _pdf_job(request, report, cleaned)
        if job_page is not None:
            return job_page
    exported = services.report_export(
        actor=request.user, report=cleaned, file_format=file_format, title=report.name, saved=report
    )
    # FileResponse streams the temporary file in blocks and closes it when the response ends.
    return FileResponse(
        exported.file,
        as_attachment=True,
        filename=exported.filename,
        content_type=exported.content_type,
    )


def _pdf_job(request: HttpRequest, report: SavedReport, cleaned: builder.Report):
    """For a long report: a document job that makes the PDF in the background (reports.jobs)."""
    from .. import jobs

    if builder.size(request.user, cleaned, cap=PDF_SYNC_ROWS) <= PDF_SYNC_ROWS:
        return None
    with transaction.atomic():
        job = jobs.start_job(
            owner=request.user,
            kind="report",
            title=report.name,
            params={"report": report.pk, "language": request.LANGUAGE_CODE},
        )
    messages.info(request, _("The PDF is long: it is being made, and it appears here when ready."))
    return redirect("reports:document", pk=job.pk)
