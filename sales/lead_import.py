"""Leads imported from a CSV or Excel file (a fair's list of visitors, a spreadsheet of
prospects), read by the citizens import's machinery (``citizens.import_files``: format and
encoding detection, the delimiter, XLSX reading, column-name matching without accents or case).

Columns are recognised by their names (``COLUMN_NAMES``); each row is checked as the staff's
lead form checks one (name, valid DNI/NIE, tax id and phone, an email or phone). Nothing is
written unless every row is valid: the page lists each bad row's number and errors, and the
file can be corrected and sent again. Each lead is created by ``lead_create`` (audited), with
source "import" and the given fair or event.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from django import forms
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from citizens.import_files import ImportFileError, inspect_file, name_key, read_rows
from crm.models import User

from .forms import LeadDataMixin
from .models import Lead, LeadSource
from .services import lead_create

MAX_ROWS = 5_000
# Lead field -> the column names that mean it (compared with citizens.import_files.name_key).
COLUMN_NAMES = {
    "given_name": ("nombre", "given name", "first name", "name"),
    "surnames": ("apellidos", "surnames", "last name", "apellido"),
    "document_number": ("dni", "nie", "documento", "document", "dni nie"),
    "email": ("email", "correo", "correo electronico", "e mail"),
    "phone": ("telefono", "phone", "movil", "mobile"),
    "organization_name": (
        "organizacion",
        "empresa",
        "entidad",
        "organisation",
        "organization",
        "company",
    ),
    "tax_id": ("cif", "nif", "cif nif", "tax id"),
    "interest": ("interes", "interest", "comentarios", "comments", "notes", "notas"),
}
_BY_KEY = {name_key(alias): field for field, aliases in COLUMN_NAMES.items() for alias in aliases}


class LeadRowForm(LeadDataMixin, forms.ModelForm):
    class Meta:
        model = Lead
        fields = list(COLUMN_NAMES)


@dataclass
class ImportResult:
    created: int = 0
    errors: list[tuple[int, list[str]]] = field(default_factory=list)  # (row number, messages)
    unknown_columns: list[str] = field(default_factory=list)


def column_fields(headers: list[str]) -> list[str | None]:
    return [_BY_KEY.get(name_key(header)) for header in headers]


def import_leads(*, upload, actor: User, event: str = "") -> ImportResult:
    """Read ``upload`` (a Django UploadedFile) and create its leads, all or none."""
    with tempfile.NamedTemporaryFile(suffix=Path(upload.name).suffix.lower()) as copy:
        for chunk in upload.chunks():
            copy.write(chunk)
        copy.flush()
        copy.seek(0)
        info = inspect_file(copy, upload.name)
        fields = column_fields(info.headers)
        result = ImportResult(
            unknown_columns=[h for h, f in zip(info.headers, fields, strict=True) if not f]
        )
        if not any(fields):
            raise ImportFileError(
                _(
                    "No column was recognised: name them e.g. Nombre, Apellidos, Email, "
                    "Teléfono, Empresa, CIF, Interés."
                )
            )
        if info.rows > MAX_ROWS:
            raise ImportFileError(
                _("The file has %(rows)s rows; import at most %(max)s at a time."),
                rows=info.rows,
                max=MAX_ROWS,
            )
        job = SimpleNamespace(
            headers=info.headers,
            file_format=info.file_format,
            encoding=info.encoding,
            delimiter=info.delimiter,
            file=SimpleNamespace(path=copy.name),
        )
        checked = []
        for number, cells in read_rows(job):
            data = {f: value for f, value in zip(fields, cells, strict=True) if f}
            form = LeadRowForm(data)
            if form.is_valid():
                checked.append(form.cleaned_data)
            else:
                result.errors.append(
                    (
                        number,
                        [
                            f"{form.fields[name].label}: {message}"
                            if name != "__all__"
                            else message
                            for name, messages in form.errors.items()
                            for message in messages
                        ],
                    )
                )
    if result.errors:
        return result
    with transaction.atomic():
        for data in checked:
            lead_create(
                actor=actor,
                source=LeadSource.IMPORT,
                event=event,
                **{name: data.get(name, "") for name in COLUMN_NAMES},
            )
            result.created += 1
    return result


class LeadImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or Excel file"),
        help_text=_(
            "One lead a row; the first row names the columns: Nombre, Apellidos, DNI, Email, "
            "Teléfono, Empresa, CIF, Interés."
        ),
    )
    event = forms.CharField(label=_("Fair or event (optional)"), max_length=200, required=False)
