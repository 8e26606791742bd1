"""My documents: the document jobs (reports.jobs) a user asked for, their progress, and the file
when it is ready. Only the owner sees a job: anyone else gets a 404, whatever their roles."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from crm.pagination import keyset_page
from crm.permissions import permission_required

from .. import jobs
from ..models import DocumentJob

PER_PAGE = 25

access_required = permission_required("reports.access")


def _job(request: HttpRequest, pk: int) -> DocumentJob:
    # Not the parameters: a table job's may be large, and the pages never show them.
    return get_object_or_404(DocumentJob.objects.for_user(request.user).defer("params"), pk=pk)


@require_GET
@access_required
def document_list(request: HttpRequest) -> HttpResponse:
    """The user's documents, newest first (keyset pages; nothing counts them)."""
    page = keyset_page(
        DocumentJob.objects.for_user(request.user).defer("params"),
        ordering=["-created_at", "-id"],
        cursor=request.GET.get("cursor"),
        per_page=PER_PAGE,
    )
    return render(
        request,
        "reports/document_list.html",
        {"page": page, "RETENTION_DAYS": settings.RETENTION_DOCUMENT_JOBS_DAYS},
    )


@require_GET
@access_required
def document_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A document's progress; htmx asks for the status panel alone every two seconds while the
    worker makes it, and stops (status 286) once it is ready or failed."""
    job = _job(request, pk)
    if request.headers.get("HX-Request"):
        # Once finished, the panel also fills the page's live region (out of band).
        response = render(request, "reports/document_status.html", {"job": job, "oob": True})
        if job.finished:
            response.status_code = 286  # htmx: stop polling
        return response
    return render(request, "reports/document_detail.html", {"job": job})


@require_GET
@access_required
def document_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The document's file, to its owner, once ready; each download is in the audit trail."""
    job = _job(request, pk)
    if not job.ready:
        raise Http404
    # Read whole: the file is at most a few MB, and nothing stays open if the client goes away.
    try:
        with job.file.open("rb") as stored:
            content = stored.read()
    except FileNotFoundError as error:
        raise Http404 from error
    jobs.record_download(job=job, actor=request.user)
    response = HttpResponse(content, content_type=job.content_type or "application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=job.filename or "document"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
