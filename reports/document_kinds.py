"""Document kinds of the reports app (reports.jobs.find_kind imports this module when a kind is
not known yet, in the web process and in the worker): "report", a saved report's PDF."""

from reports.jobs import register_kind
from reports.services import report_document

register_kind("report", report_document)
