"""The cases module's retention rule (crm.retention): closed cases lose their personal content.

What stays after ``RETENTION_CLOSED_CASES_YEARS`` is the registry entry (Ley 39/2015, art. 16:
number, type, dates, channel, unit, status) and the documents the body issued (receipt, answer),
which are the registry's record and verifiable by their code; the annual statistics (RD 951/2005)
still count the case. What goes: who filed (the snapshot and the link to the person or
organisation), what they wrote and where, the answer's text, the history's and the tasks'
texts and every attached file.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import transaction

from crm.retention import BATCH, in_batches, register, years_before

from .models import Case, CaseAttachment, CaseEntry, CaseTask

ENDED = "—"


@register("closed_cases")
def end_old_closed_cases(now: datetime) -> int:
    cutoff = years_before(now, settings.RETENTION_CLOSED_CASES_YEARS)

    def next_batch() -> list[int]:
        return list(
            Case.objects.filter(closed_at__lt=cutoff)
            .exclude(filer={}, text=ENDED)
            .select_for_update(skip_locked=True)
            .order_by("id")
            .values_list("id", flat=True)[:BATCH]
        )

    def end(ids: list[int]) -> None:
        attachments = CaseAttachment.objects.filter(case_id__in=ids)
        for attachment in attachments.only("file"):
            transaction.on_commit(partial(attachment.file.storage.delete, attachment.file.name))
        attachments.delete()
        CaseEntry.objects.filter(case_id__in=ids).exclude(text="").update(text="")
        CaseTask.objects.filter(case_id__in=ids).update(description=ENDED)
        Case.objects.filter(id__in=ids).update(
            filer={},
            person=None,
            organization=None,
            subject=ENDED,
            text=ENDED,
            place_address="",
            latitude=None,
            longitude=None,
            public_answer="",
        )

    return in_batches(next_batch, end)
