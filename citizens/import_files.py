"""What an import file says: reading CSV and Excel (XLSX) files, the fields a column can go into,
and each row read into cleaned values and per-field errors. Nothing here writes; the import itself
is citizens.imports.

Rows are checked as the services check a record (``citizens.validation`` for documents, tax ids and
phones; the models' own fields for lengths, choices, emails, URLs), and errors are stored as their
untranslated message and parameters (``row_error``), shown in the reader's language
(``describe_error``).
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from citizens.models import (
    Channel,
    CustomField,
    DocumentType,
    EmailAddress,
    ImportJob,
    ImportKind,
    ImportMapping,
    Language,
    Organization,
    Person,
    PhoneNumber,
    PostalAddress,
    Sex,
)
from citizens.text import strip_accents
from citizens.validation import clean_document, clean_phone, clean_tax_id
from crm.models import User

# Encodings offered for CSV files, and the codec that reads each (utf-8-sig: with or without BOM).
ENCODINGS = {"utf-8": "utf-8-sig", "windows-1252": "cp1252"}
DELIMITERS = (";", ",", "\t", "|")
PREVIEW_ROWS = 5  # rows the mapping page shows

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


class ImportFileError(Exception):
    """The file cannot be imported as it is; the message says why, for the person uploading."""

    def __init__(self, message, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.params = params

    def __str__(self) -> str:
        return str(self.message) % self.params if self.params else str(self.message)


def name_key(text: str) -> str:
    """How column names and choice words are compared: no accents, case or punctuation."""
    return " ".join(_NOT_ALNUM.sub(" ", strip_accents(str(text)).lower()).split())


# --- Reading files ----------------------------------------------------------------------------


@dataclass
class FileInfo:
    file_format: str
    encoding: str
    delimiter: str
    headers: list[str]
    preview: list[list[str]]
    rows: int  # data rows (for an XLSX file, what its dimension says)


def inspect_file(file, name: str, *, encoding: str = "", delimiter: str = "") -> FileInfo:
    """Check that ``file`` (binary, seekable) can be imported; its columns and first rows."""
    file.seek(0)
    head = file.read(8)
    file.seek(0)
    file_format = _detect_format(name, head)
    if file_format == ImportJob.Format.XLSX:
        return _inspect_xlsx(file)
    text, encoding = _decode(file.read(), encoding)
    delimiter = delimiter or _sniff_delimiter(text)
    rows = _clean_rows(enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), 1))
    try:
        return _describe(rows, ImportJob.Format.CSV, encoding, delimiter)
    except csv.Error as error:
        raise ImportFileError(
            _("The CSV file is malformed (%(error)s): check its quotes."), error=str(error)
        ) from None


def _detect_format(name: str, head: bytes) -> str:
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if not head:
        raise ImportFileError(_("The file is empty."))
    if head.startswith(b"PK\x03\x04"):
        return ImportJob.Format.XLSX
    if head.startswith(b"\xd0\xcf\x11\xe0") or extension == "xls":
        raise ImportFileError(
            _(
                "This is an Excel file in the old .xls format: open it in Excel or LibreOffice "
                "and save it as .xlsx or as CSV."
            )
        )
    if extension in ("xlsx", "xlsm"):
        raise ImportFileError(_("This Excel file is damaged: it cannot be opened."))
    return ImportJob.Format.CSV


def _decode(data: bytes, encoding: str) -> tuple[str, str]:
    if encoding:
        try:
            text = data.decode(ENCODINGS[encoding])
        except UnicodeDecodeError as error:
            raise ImportFileError(
                _(
                    "The file is not in %(encoding)s (the byte at position %(position)s is not "
                    "valid there): choose another encoding, or let the CRM detect it."
                ),
                encoding=encoding.upper(),
                position=error.start,
            ) from None
    else:
        for encoding in ENCODINGS:
            try:
                text = data.decode(ENCODINGS[encoding])
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ImportFileError(_NOT_A_TABLE)
    if _CONTROL.search(text):
        raise ImportFileError(_NOT_A_TABLE)
    return text, encoding


_NOT_A_TABLE = _(
    "This file is neither a CSV text file nor an Excel (.xlsx) workbook: export the data as CSV "
    "(UTF-8 or Windows-1252) or as .xlsx and try again."
)


def _sniff_delimiter(text: str) -> str:
    """The separator that splits the first lines into the same number (> 1) of columns."""
    lines = text.splitlines()[:30]
    best, best_score = ";" if ";" in (lines[0] if lines else "") else ",", (0, 0)
    for delimiter in DELIMITERS:
        rows = [row for row in csv.reader(lines, delimiter=delimiter) if any(row)]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        score = (sum(len(row) == width for row in rows), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _cell(value: Any) -> str:
    """A spreadsheet cell as the text an import reads."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # phone numbers and postcodes typed as numbers
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


def _clean_rows(rows) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for every row that is not blank; the header is row 1."""
    for number, row in rows:
        cells = [_cell(value) for value in row]
        if any(cells):
            yield number, cells


def _open_workbook(source):
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Workbook contains no default style"
            return openpyxl.load_workbook(source, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, TypeError):
        raise ImportFileError(
            _("This Excel file cannot be read: it may be damaged or protected by a password.")
        ) from None


def _xlsx_rows(workbook) -> Iterator[tuple[int, list[str]]]:
    sheet = workbook.worksheets[0]
    return _clean_rows(enumerate(sheet.iter_rows(values_only=True), 1))


def _inspect_xlsx(file) -> FileInfo:
    workbook = _open_workbook(file)
    try:
        if not workbook.worksheets:
            raise ImportFileError(_("The workbook has no sheet."))
        info = _describe(_xlsx_rows(workbook), ImportJob.Format.XLSX, "", "", count=False)
        max_row = workbook.worksheets[0].max_row
        info.rows = max(max_row - 1, len(info.preview)) if isinstance(max_row, int) else 0
        return info
    finally:
        workbook.close()


def _describe(rows, file_format: str, encoding: str, delimiter: str, count=True) -> FileInfo:
    first = next(rows, None)
    if first is None:
        raise ImportFileError(_("The file has no rows."))
    _number, header = first
    headers = _headers(header)
    preview = [_fit(cells, len(headers)) for _number, cells in itertools.islice(rows, PREVIEW_ROWS)]
    if not preview:
        raise ImportFileError(
            _("The file has column names but no rows: there is nothing to import.")
        )
    total = len(preview) + sum(1 for _row in rows) if count else len(preview)
    return FileInfo(file_format, encoding, delimiter, headers, preview, total)


def _headers(cells: list[str]) -> list[str]:
    while cells and not cells[-1]:
        cells = cells[:-1]
    if len(cells) > 200:
        raise ImportFileError(_("The file has more than 200 columns: is the first row a header?"))
    return [
        cell or gettext("Column %(number)s") % {"number": index}
        for index, cell in enumerate(cells, 1)
    ]


def _fit(cells: list[str], width: int) -> list[str]:
    return (cells + [""] * width)[:width]


def read_rows(job: ImportJob) -> Iterator[tuple[int, list[str]]]:
    """The data rows of the job's file, blank ones left out: (row number, one cell per column)."""
    width = len(job.headers)
    if job.file_format == ImportJob.Format.XLSX:
        workbook = _open_workbook(job.file.path)
        try:
            rows = _xlsx_rows(workbook)
            next(rows, None)  # the header
            for number, cells in rows:
                yield number, _fit(cells, width)
        finally:
            workbook.close()
        return
    codec = ENCODINGS.get(job.encoding, "utf-8-sig")
    with open(job.file.path, encoding=codec, newline="") as text:
        rows = _clean_rows(enumerate(csv.reader(text, delimiter=job.delimiter or ","), 1))
        next(rows, None)
        for number, cells in rows:
            yield number, _fit(cells, width)


# --- What a column can be imported into -------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    label: Any
    aliases: tuple[str, ...] = ()  # other column names that mean this field


_CONTACT_TARGETS = (
    Target("email", _("Email"), ("correo", "correo electronico", "e mail", "mail")),
    Target("phone", _("Phone"), ("telefono", "movil", "tel", "tfno", "mobile", "telephone")),
    Target("street", _("Street"), ("calle", "direccion", "domicilio", "via", "address")),
    Target("street_number", _("Street number"), ("numero", "num", "no", "number")),
    Target("extra", _("Floor, door"), ("piso", "puerta", "piso puerta", "floor", "door")),
    Target("postcode", _("Postcode"), ("codigo postal", "cp", "c p", "postal code", "zip")),
    Target("municipality", _("Municipality"), ("municipio", "localidad", "poblacion", "city")),
    Target("province", _("Province"), ("provincia",)),
    Target("country", _("Country"), ("pais",)),
)
_COMMON_TARGETS = (
    Target("preferred_channel", _("Preferred channel"), ("canal", "canal preferido")),
    Target("preferred_language", _("Preferred language"), ("idioma", "lengua", "language")),
    Target("tags", _("Tags"), ("etiquetas",)),
    Target("notes", _("Notes"), ("notas", "observaciones", "comentarios", "comments")),
)
PERSON_TARGETS = (
    Target("given_name", _("Given name"), ("nombre", "name", "first name", "nombre de pila")),
    Target(
        "first_surname",
        _("First surname"),
        ("apellido 1", "apellido1", "primer apellido", "apellido", "surname", "last name"),
    ),
    Target("second_surname", _("Second surname"), ("apellido 2", "apellido2", "segundo apellido")),
    Target(
        "document_type", _("Type of identity document"), ("tipo de documento", "tipo documento")
    ),
    Target(
        "document_number",
        _("Identity document number"),
        ("dni", "nie", "dni nie", "nif", "documento", "numero de documento", "document"),
    ),
    Target("birth_date", _("Birth date"), ("fecha de nacimiento", "nacimiento", "date of birth")),
    Target("sex", _("Sex"), ("sexo", "genero", "gender")),
    *_CONTACT_TARGETS,
    *_COMMON_TARGETS,
)
ORGANIZATION_TARGETS = (
    Target(
        "name",
        _("Name"),
        ("nombre", "razon social", "denominacion", "entidad", "empresa", "organisation"),
    ),
    Target("kind", _("Kind of organisation"), ("tipo", "tipo de entidad", "type")),
    Target("tax_id", _("Tax id (CIF/NIF)"), ("cif", "nif", "cif nif", "tax id", "vat")),
    Target("sector", _("Sector"), ("sector", "actividad")),
    Target("website", _("Website"), ("web", "pagina web", "sitio web", "url")),
    *_CONTACT_TARGETS,
    *_COMMON_TARGETS,
)
# Fields a new record needs, and the columns that can find an existing one.
REQUIRED = {ImportKind.PERSON: "given_name", ImportKind.ORGANIZATION: "name"}
KEYS = {
    ImportKind.PERSON: ("document_number", "email", "phone"),
    ImportKind.ORGANIZATION: ("tax_id", "email", "phone"),
}
ADDRESS_FIELDS = {
    "street": "street",
    "street_number": "number",
    "extra": "extra",
    "postcode": "postcode",
    "municipality": "municipality",
    "province": "province",
    "country": "country",
}
CUSTOM_PREFIX = "custom:"
CUSTOM_TEXT_LENGTH = 500  # as the record forms (citizens.forms.custom_form_field)


def _custom_fields(kind: str) -> list[CustomField]:
    applies = CustomField.Applies.PERSON if kind == ImportKind.PERSON else "organization"
    return list(CustomField.objects.filter(applies_to=applies, is_active=True))


def targets_for(kind: str) -> list[Target]:
    """Every field a column of a ``kind`` import can go into, custom fields included."""
    fixed = PERSON_TARGETS if kind == ImportKind.PERSON else ORGANIZATION_TARGETS
    custom = [
        Target(f"{CUSTOM_PREFIX}{custom.key}", custom.label, (custom.key,))
        for custom in _custom_fields(kind)
    ]
    return [*fixed, *custom]


def target_labels(kind: str) -> dict[str, str]:
    return {target.name: str(target.label) for target in targets_for(kind)}


def suggest_mapping(kind: str, headers: Sequence[str], remembered: dict[str, str]) -> list[str]:
    """A target per column: what the user chose last time for a column of that name, else the
    field whose name, label (Spanish or English) or usual column name is the column's name."""
    targets = targets_for(kind)
    valid = {target.name for target in targets}
    names: dict[str, str] = {}
    for target in targets:
        labels = []
        for language in ("es", "en"):
            with translation.override(language):
                labels.append(str(target.label))
        for alias in (target.name, *labels, *target.aliases):
            names.setdefault(name_key(alias), target.name)
    mapping, used = [], set()
    for header in headers:
        key = name_key(header)
        if key in remembered and (remembered[key] in valid or not remembered[key]):
            target = remembered[key]
        else:
            target = names.get(key, "")
        if target in used:
            target = ""
        used.add(target)
        mapping.append(target)
    return mapping


def remembered_mapping(user: User, kind: str) -> dict[str, str]:
    saved = ImportMapping.objects.filter(user=user, kind=kind).first()
    return dict(saved.mapping) if saved else {}


def check_mapping(kind: str, headers: Sequence[str], mapping: Sequence[str]) -> None:
    """Raise a ValidationError unless ``mapping`` is one known target (or "") per column, no
    target twice, and the rows can create or find a record."""
    valid = {target.name for target in targets_for(kind)}
    if len(mapping) != len(headers) or any(t and t not in valid for t in mapping):
        raise ValidationError(_("Choose a field, or “ignore”, for every column."))
    chosen = [target for target in mapping if target]
    if len(chosen) != len(set(chosen)):
        raise ValidationError(_("Each field can be chosen for one column only."))
    if REQUIRED[kind] not in chosen and not set(KEYS[kind]) & set(chosen):
        labels = target_labels(kind)
        raise ValidationError(
            _("Choose a column for %(field)s, or one that finds existing records (%(keys)s)."),
            params={
                "field": labels[REQUIRED[kind]],
                "keys": ", ".join(labels[key] for key in KEYS[kind]),
            },
        )


# --- Reading one row --------------------------------------------------------------------------


def row_error(field_name: str, message, **params: Any) -> dict[str, Any]:
    """An error as stored: the untranslated message and its parameters (see describe_error)."""
    with translation.override(None):
        return {
            "field": field_name,
            "message": str(message),
            "params": {key: _plain(value) for key, value in params.items()},
        }


def _plain(value: Any) -> Any:
    return value if isinstance(value, int | float | str) else str(value)


def _validation_errors(field_name: str, error: ValidationError) -> list[dict[str, Any]]:
    return [row_error(field_name, item.message, **(item.params or {})) for item in error.error_list]


def describe_error(error: dict[str, Any]) -> str:
    """A stored error in the current language."""
    message = gettext(error["message"])
    params = error.get("params") or {}
    try:
        return message % params if params else message
    except (KeyError, TypeError, ValueError):
        return message


@dataclass
class ParsedRow:
    number: int
    cells: list[str]
    fields: dict[str, Any] = field(default_factory=dict)  # model fields, non-empty values only
    email: str = ""
    phone: str = ""
    phone_kind: str = ""
    address: dict[str, str] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    display: dict[str, str] = field(default_factory=dict)

    @property
    def doc_key(self) -> Any:
        if "tax_id" in self.fields:
            return self.fields["tax_id"]
        if "document_number" in self.fields:
            return (self.fields["document_type"], self.fields["document_number"])
        return None


def _choices(choices: type[models.TextChoices], **aliases: str) -> dict[str, str]:
    lookup = {}
    for language in ("es", "en"):
        with translation.override(language):
            for value, label in choices.choices:
                lookup.setdefault(name_key(label), value)
    for value in choices.values:
        lookup[name_key(value)] = value
    lookup.update({name_key(alias): value for alias, value in aliases.items()})
    return lookup


_TRUE = {"1", "si", "s", "yes", "y", "true", "verdadero", "x"}
_FALSE = {"0", "no", "n", "false", "falso"}
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d", "%d/%m/%y")


def _parse_date(raw: str) -> date:
    text = raw.split(" ")[0]
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValidationError(
        _("“%(value)s” is not a date: write it as DD/MM/YYYY."), params={"value": raw}
    )


def _parse_number(raw: str) -> int | float:
    text = raw.replace(" ", "")
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValidationError(_("“%(value)s” is not a number."), params={"value": raw}) from None
    return int(number) if number == number.to_integral_value() else float(number)


class RowParser:
    """Turns the cells of one row into cleaned values and per-field errors, with the same checks
    as the services (``citizens.validation``) and the models' own fields."""

    def __init__(self, kind: str, mapping: Sequence[str]) -> None:
        self.kind = kind
        self.model = Person if kind == ImportKind.PERSON else Organization
        self.columns = [(index, target) for index, target in enumerate(mapping) if target]
        self.order = {target: index for index, target in self.columns}
        self.custom = {f"{CUSTOM_PREFIX}{c.key}": c for c in _custom_fields(kind)}
        self.lookups = {
            "document_type": _choices(DocumentType, pasaporte="passport", otro="other"),
            "sex": _choices(
                Sex, mujer="female", f="female", femenino="female", hombre="male", h="male",
                varon="male", masculino="male", no_binario="non_binary",
            ),
            "preferred_channel": _choices(
                Channel, telefono="phone", correo="email", web="web_form"
            ),
            "preferred_language": _choices(
                Language, castellano="es", espanol="es", catalan="ca", euskera="eu",
                gallego="gl", galego="gl", valenciano="ca-valencia", ingles="en",
            ),
            "kind": _choices(Organization.Kind, empresa="company", asociacion="association"),
        }  # fmt: skip
        self.email_field = EmailAddress._meta.get_field("address")

    def _clean(self, model: type[models.Model], name: str, value: Any) -> Any:
        return model._meta.get_field(name).clean(value, None)

    def parse(self, number: int, cells: list[str]) -> ParsedRow:
        row = ParsedRow(number, cells)
        values = {target: cells[index] for index, target in self.columns if index < len(cells)}
        row.display = {
            "name": " ".join(
                values.get(name, "")
                for name in ("given_name", "first_surname", "second_surname", "name")
                if values.get(name)
            ),
            "document": values.get("document_number") or values.get("tax_id", ""),
            "email": values.get("email", ""),
            "phone": values.get("phone", ""),
        }
        if not any(values.values()):
            row.errors.append(row_error("", _("The row has no value in the chosen columns.")))
            return row
        address: dict[str, str] = {}
        for target, raw in values.items():
            if not raw:
                continue
            try:
                self._read(row, target, raw, address)
            except ValidationError as error:
                row.errors += _validation_errors(target, error)
        self._read_document(row, values)
        if address:
            self._read_address(row, address)
        row.errors.sort(key=lambda error: self.order.get(error["field"], -1))  # column order
        return row

    def _read(self, row: ParsedRow, target: str, raw: str, address: dict[str, str]) -> None:
        if target in ADDRESS_FIELDS:
            address[ADDRESS_FIELDS[target]] = " ".join(raw.split())
        elif target == "email":
            row.email = self.email_field.clean(raw.lower(), None)
        elif target == "phone":
            row.phone = clean_phone(raw)
            row.phone_kind = _phone_kind(row.phone)
        elif target in self.lookups:
            value = self.lookups[target].get(name_key(raw))
            if value is None:
                raise ValidationError(
                    _("“%(value)s” is not one of the accepted values."), params={"value": raw}
                )
            row.fields[target] = value
        elif target == "document_number":
            pass  # needs the document type: _read_document
        elif target == "birth_date":
            born = _parse_date(raw)
            if born > timezone.localdate() or born.year < 1900:
                raise ValidationError(
                    _("The birth date %(value)s is not possible."), params={"value": raw}
                )
            row.fields[target] = born
        elif target == "tags":
            tags = {tag.strip().lower() for tag in re.split(r"[,;|]", raw) if tag.strip()}
            row.fields[target] = self._clean(self.model, "tags", sorted(tags))
        elif target == "tax_id":
            row.fields[target] = clean_tax_id(raw)
        elif target == "website":
            url = raw if "://" in raw else f"https://{raw}"
            row.fields[target] = self._clean(Organization, "website", url)
        elif target in self.custom:
            value = self._read_custom(self.custom[target], raw)
            row.fields.setdefault("custom", {})[self.custom[target].key] = value
        elif target == "notes":
            row.fields[target] = raw
        else:  # names, sector
            row.fields[target] = self._clean(self.model, target, " ".join(raw.split()))

    def _read_document(self, row: ParsedRow, values: dict[str, str]) -> None:
        number = values.get("document_number", "")
        if not number:
            row.fields.pop("document_type", None)  # a type without a number says nothing
            return
        if values.get("document_type") and "document_type" not in row.fields:
            return  # the type was wrong: already reported
        document_type = row.fields.get("document_type") or _guess_document_type(number)
        if not document_type:
            row.errors.append(
                row_error(
                    "document_number",
                    _(
                        "“%(value)s” is not a DNI or an NIE: add a column with the type of "
                        "document (passport, other)."
                    ),
                    value=number,
                )
            )
            return
        try:
            cleaned = clean_document(document_type, number)
            cleaned = self._clean(Person, "document_number", cleaned)
        except ValidationError as error:
            row.errors += _validation_errors("document_number", error)
            return
        row.fields["document_type"] = document_type
        row.fields["document_number"] = cleaned

    def _read_address(self, row: ParsedRow, address: dict[str, str]) -> None:
        if not address.get("street") or not address.get("municipality"):
            row.errors.append(
                row_error("street", _("An address needs at least the street and the municipality."))
            )
            return
        country = address.get("country", "ES")
        address["country"] = {"espana": "ES", "spain": "ES"}.get(name_key(country), country.upper())
        for name, value in address.items():
            target = next(t for t, n in ADDRESS_FIELDS.items() if n == name)
            try:
                self._clean(PostalAddress, name, value)
            except ValidationError as error:
                row.errors += _validation_errors(target, error)
        row.address = address

    def _read_custom(self, custom: CustomField, raw: str) -> Any:
        kind = custom.type
        if kind == CustomField.Type.NUMBER:
            return _parse_number(raw)
        if kind == CustomField.Type.DATE:
            return _parse_date(raw).isoformat()
        if kind == CustomField.Type.BOOLEAN:
            word = name_key(raw)
            if word in _TRUE or word in _FALSE:
                return word in _TRUE
            raise ValidationError(_("Write yes or no, not “%(value)s”."), params={"value": raw})
        if kind == CustomField.Type.CHOICE:
            for choice in custom.choices:
                if name_key(choice) == name_key(raw):
                    return choice
            raise ValidationError(
                _("“%(value)s” is not one of: %(choices)s."),
                params={"value": raw, "choices": ", ".join(custom.choices)},
            )
        MaxLengthValidator(CUSTOM_TEXT_LENGTH)(raw)
        return raw


def _guess_document_type(number: str) -> str:
    compact = re.sub(r"[\s.-]", "", number).upper()
    if compact[:1] in ("X", "Y", "Z") and compact[1:2].isdigit():
        return DocumentType.NIE
    if compact[:1].isdigit():
        return DocumentType.DNI
    return ""


def _phone_kind(e164: str) -> str:
    if e164.startswith("+34") and len(e164) == 12:  # Spain, without parsing again
        if e164[3] == "6" or e164[3:5] in ("71", "72", "73", "74", "78"):
            return PhoneNumber.Kind.MOBILE
        if e164[3] in "89" and e164[4] != "0":  # 80x and 90x are toll-free or special rates
            return PhoneNumber.Kind.LANDLINE
    number_type = phonenumbers.number_type(phonenumbers.parse(e164, None))
    if number_type == phonenumbers.PhoneNumberType.MOBILE:
        return PhoneNumber.Kind.MOBILE
    if number_type == phonenumbers.PhoneNumberType.FIXED_LINE:
        return PhoneNumber.Kind.LANDLINE
    return PhoneNumber.Kind.OTHER
