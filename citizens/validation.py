"""Identity documents and phone numbers, checked by python-stdnum and phonenumbers."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum import exceptions as stdnum_errors
from stdnum.es import cif, dni, nie, nif

from citizens.models import DocumentType

DEFAULT_REGION = "ES"


def clean_document(document_type: str, number: str) -> str:
    """The document number in its canonical form, or a ValidationError saying what is wrong."""
    number = (number or "").strip()
    if not number:
        return ""
    validators = {DocumentType.DNI: dni, DocumentType.NIE: nie}
    validator = validators.get(document_type)
    if validator is None:
        if not document_type:
            raise ValidationError(_("Choose the type of document."), code="document_type")
        compact = "".join(number.split()).upper()
        if len(compact) < 4:
            raise ValidationError(_("This document number is too short."), code="too_short")
        return compact
    try:
        return validator.validate(number)
    except stdnum_errors.InvalidChecksum:
        raise ValidationError(
            _("The check letter does not match the number: check the document."),
            code="checksum",
        ) from None
    except stdnum_errors.ValidationError:
        if document_type == DocumentType.DNI:
            message = _("A DNI has 8 digits and a letter, e.g. 12345678Z.")
        else:
            message = _("An NIE starts with X, Y or Z, then 7 digits and a letter, e.g. X1234567L.")
        raise ValidationError(message, code="format") from None


def clean_tax_id(number: str) -> str:
    """A Spanish CIF or NIF (companies, and people acting as such)."""
    number = (number or "").strip()
    if not number:
        return ""
    try:
        return nif.validate(number) if nif.is_valid(number) else cif.validate(number)
    except stdnum_errors.InvalidChecksum:
        raise ValidationError(
            _("The control character does not match the tax id: check it."), code="checksum"
        ) from None
    except stdnum_errors.ValidationError:
        raise ValidationError(
            _("A tax id (CIF/NIF) has 9 characters, e.g. B12345674 or 12345678Z."), code="format"
        ) from None


def clean_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """A phone number in E.164 (+34600123456), from any way of writing it."""
    raw = (raw or "").strip()
    if not raw:
        return ""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise ValidationError(_("This is not a phone number."), code="phone") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(
            _("This phone number does not exist: check the digits and the country prefix."),
            code="phone",
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str) -> str:
    if e164.startswith("+34") and e164[3:].isdigit():
        # A Spanish number as stored (E.164) needs no parsing, the slow half of formatting it;
        # lists show fifty of them a page.
        number = phonenumbers.PhoneNumber(country_code=34, national_number=int(e164[3:]))
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if parsed.country_code == 34:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
