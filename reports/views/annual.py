"""The annual complaints and suggestions report (reports.annual): the page, its PDF and CSV, and
its open data (CSV and JSON). Every output is read-only and asks the same form (GET ``year`` and
``units``): an invalid one gives the page with the errors next to the fields (status 400)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from functools import wraps

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from citizens.views.directory import neutralise
from crm.pdf import render_pdf
from crm.permissions import module_required
from reports.annual import (
    DIMENSIONS,
    FIRST_YEAR,
    OPEN_DATA_COLUMNS,
    AnnualReport,
    build_report,
    open_data_document,
    open_data_rows,
    unit_choices,
    years_with_data,
)
from reports.scope import may_see


class AnnualReportForm(forms.Form):
    year = forms.TypedChoiceField(label=gettext_lazy("Year"), coerce=int)
    units = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Units"),
        queryset=None,
        required=False,
        help_text=gettext_lazy(
            "Each unit with its sub-units. None chosen: every unit you may see. Hold Ctrl (or "
            "Cmd) to choose several."
        ),
        widget=forms.SelectMultiple(attrs={"size": 6, "class": "form-select"}),
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["year"].choices = [(year, str(year)) for year in years_with_data()]
        self.fields["units"].queryset = unit_choices(user).order_by("name")

    def clean_year(self) -> int:
        year = self.cleaned_data["year"]
        if year < FIRST_YEAR:
            raise forms.ValidationError(_("Choose a year from the list."))
        return year


def _report_view(view: Callable) -> Callable:
    """Staff with the reports module who may count cases; the form validated first."""

    @module_required("reports")
    @wraps(view)
    def wrapped(request: HttpRequest) -> HttpResponse:
        if not may_see(request.user, "cases"):
            raise PermissionDenied
        form = AnnualReportForm(request.GET or None, user=request.user)
        if not form.is_bound or not form.is_valid():
            status = 400 if form.is_bound else 200
            return _page(request, form, None, status=status)
        report = build_report(
            request.user, form.cleaned_data["year"], list(form.cleaned_data["units"])
        )
        return view(request, form, report)

    return wrapped


def _page(request, form, report: AnnualReport | None, *, status: int = 200) -> HttpResponse:
    query = request.GET.urlencode() if report is not None else ""
    return render(
        request,
        "reports/annual.html",
        {"form": form, "report": report, "query": query, "dimensions": DIMENSIONS},
        status=status,
    )


@_report_view
def annual_report(request, form, report: AnnualReport) -> HttpResponse:
    return _page(request, form, report)


def _filename(report: AnnualReport, suffix: str) -> str:
    units = "-".join(unit.code for unit in report.units)[:80]
    return f"annual-complaints-report-{report.year}{'-' + units if units else ''}.{suffix}"


def _attachment(response: HttpResponse, name: str) -> HttpResponse:
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@_report_view
def annual_report_pdf(request, form, report: AnnualReport) -> HttpResponse:
    """A report of the body, not an issued document: the letterhead and page numbers, without a
    verification code (docs/reports.md)."""
    pdf = render_pdf("pdf/annual_report.html", {"report": report})
    return _attachment(HttpResponse(pdf, content_type="application/pdf"), _filename(report, "pdf"))


def _csv_response(report: AnnualReport, suffix: str) -> tuple[HttpResponse, csv.writer]:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    _attachment(response, _filename(report, suffix))
    response.write("\ufeff")  # spreadsheets read the file as UTF-8
    return response, csv.writer(response)


@_report_view
def annual_report_csv(request, form, report: AnnualReport) -> HttpResponse:
    """The report's tables in the user's language, one after the other, for a spreadsheet."""
    response, writer = _csv_response(report, "csv")
    writer.writerow([neutralise(str(report_title(report)))])
    writer.writerow([neutralise(f"{_('Units')}: {report.units_label}")])
    for sentence in report.summary:
        writer.writerow([neutralise(sentence)])
    headings = [
        _("Complaints"),
        _("Suggestions"),
        _("Total"),
        _("Answered"),
        _("Answered within the term"),
        _("Median business days"),
        _("90th percentile business days"),
        _("Open at year end"),
    ]
    for title, rows in [(_("Total"), [report.total])] + [
        (table.title, table.rows) for table in report.tables
    ]:
        writer.writerow([])
        writer.writerow([neutralise(title), *headings])
        for row in rows:
            writer.writerow(
                [
                    neutralise(row.label),
                    row.complaints,
                    row.suggestions,
                    row.total,
                    row.answers.answered,
                    row.answers.on_time,
                    _decimal(row.answers.median_days),
                    _decimal(row.answers.p90_days),
                    row.open_at_year_end,
                ]
            )
    writer.writerow([])
    writer.writerow([_("Cases suspended"), report.suspended_cases])
    writer.writerow([_("Days suspended"), report.suspended_days])
    return response


def _decimal(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


@_report_view
def annual_open_data_csv(request, form, report: AnnualReport) -> HttpResponse:
    """Open data (docs/reports.md): one row per group, fixed English columns, codes."""
    response, writer = _csv_response(report, "open-data.csv")
    writer.writerow(OPEN_DATA_COLUMNS)
    for row in open_data_rows(report):
        writer.writerow(
            [neutralise("" if row[key] is None else row[key]) for key in OPEN_DATA_COLUMNS]
        )
    return response


@_report_view
def annual_open_data_json(request, form, report: AnnualReport) -> HttpResponse:
    """Open data (docs/open-data/annual-complaints-report.schema.json)."""
    body = json.dumps(open_data_document(report), ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    return _attachment(response, _filename(report, "json"))


def report_title(report: AnnualReport) -> str:
    return _("Annual complaints and suggestions report %(year)s") % {"year": report.year}
