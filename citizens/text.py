"""Text as search sees it: no accents, no case, phones and documents as bare digits/letters.

The same function builds ``search_text`` when a record is written and reads the words of a
query, so "jose garcia" finds "José García", "600 12 34 56" finds +34600123456 and "12.345.678-z"
finds 12345678Z.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_NOT_WORD = re.compile(r"[^\w@.+]+")
_PHONE_LIKE = re.compile(r"^[\d\s().+-]{6,}$")
_DOCUMENT_LIKE = re.compile(r"^[\dA-Za-z][\d\s.A-Za-z-]{5,}$")


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def normalise(text: str) -> str:
    """Lower case, no accents, words separated by one space; phone- and document-looking
    queries become one bare token."""
    text = strip_accents(text or "").lower().strip()
    if _PHONE_LIKE.match(text):
        digits = re.sub(r"\D", "", text)
        # A Spanish number may be typed with or without +34 / 0034.
        for prefix in ("0034", "34"):
            if digits.startswith(prefix) and len(digits) == len(prefix) + 9:
                digits = digits[len(prefix) :]
        return digits
    if _DOCUMENT_LIKE.match(text) and any(char.isdigit() for char in text):
        compact = re.sub(r"[\s.-]", "", text)
        if len(compact) <= 12 and " " not in text.strip():
            return compact
    return " ".join(_NOT_WORD.sub(" ", text).split())


def municipality_key(name: str) -> str:
    """A municipality as the list's filter compares it: ``normalise``'s words (lower case, no
    accents, punctuation as a space, single spaces), so "Cádiz", "cadiz" and " CÁDIZ " are one.

    Municipality names are never phones or documents, so ``normalise``'s special cases for those
    do not apply ("Pueblo 12" stays two words)."""
    text = strip_accents(name or "").lower()
    return " ".join(_NOT_WORD.sub(" ", text).split())


def municipality_keys(names: Iterable[str]) -> list[str]:
    """The ``municipalities`` value of a person or organisation with addresses in ``names``:
    the distinct keys, sorted, without empty ones."""
    return sorted({key for key in map(municipality_key, names) if key})


def phone_forms(e164: str) -> list[str]:
    """How a stored phone can be found: the E.164 digits and, for Spain, the national ones."""
    digits = e164.lstrip("+")
    forms = [digits]
    if digits.startswith("34") and len(digits) == 11:
        forms.append(digits[2:])
    return forms


def build_search_text(
    *,
    names: Iterable[str] = (),
    documents: Iterable[str] = (),
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
) -> str:
    parts = [normalise(name) for name in names if name]
    parts += [re.sub(r"[\s.-]", "", strip_accents(doc).lower()) for doc in documents if doc]
    parts += [email.lower() for email in emails if email]
    for phone in phones:
        parts += phone_forms(phone)
    return " ".join(part for part in parts if part)
