"""The Spanish catalogue is complete and sound, and pages rendered in Spanish show no English.

The .po files are parsed here (polib is not a dependency); msgfmt is gettext's own checker,
installed by scripts/setup.sh for compilemessages.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from html import unescape
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from crm.modules import home_panels, visible_modules
from tests.conftest import ROLE_CODES

LOCALE = Path(settings.BASE_DIR) / "locale"
SPANISH = LOCALE / "es" / "LC_MESSAGES" / "django.po"
ENGLISH = LOCALE / "en" / "LC_MESSAGES" / "django.po"

PYTHON_FORMAT = re.compile(r"%(?:\([^)]*\))?[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")
NAMED = re.compile(r"%\([^)]*\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
BRACE_FORMAT = re.compile(r"\{[^{}]*\}")
HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")

# Terms fixed by the project (and by tests elsewhere, e.g. the permission matrix's 403 page).
GLOSSARY = {
    "Access denied": "Acceso denegado",
    "Log in": "Iniciar sesión",
    "Log out": "Cerrar sesión",
    "Save": "Guardar",
    "Cancel": "Cancelar",
    "Search": "Buscar",
    "Next page": "Página siguiente",
    "Administrator": "Administrador/a",
    "Citizen service": "Atención ciudadana",
    "Case handler": "Tramitador/a",
    "Communication": "Comunicación",
    "Promotion": "Promoción",
    "Inspector": "Inspector/a",
    "Management": "Dirección",
    "Data protection officer": "Delegado/a de protección de datos",
    "Citizens": "Ciudadanía",
    "Cases": "Expedientes",
    "Campaigns": "Campañas",
    "Reports": "Informes",
    "Audit trail": "Registro de auditoría",
}


@dataclass
class Entry:
    line: int
    flags: set[str] = field(default_factory=set)
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)  # 0 alone unless plural
    obsolete: bool = False

    @property
    def translated(self) -> bool:
        wanted = 2 if self.msgid_plural is not None else 1
        return len(self.msgstr) == wanted and all(self.msgstr.values())

    def __str__(self) -> str:
        return f"line {self.line}: {self.msgid!r}"


@cache
def parse(path: Path) -> tuple[Entry, ...]:
    """The entries of a .po file, the header (msgid "") first; obsolete (#~) ones marked."""
    entries: list[Entry] = []
    for number, block in _blocks(path.read_text(encoding="utf-8")):
        entry = Entry(line=number)
        target: tuple[str, int] | None = None
        for raw in block:
            line = raw
            if line.startswith("#~"):
                entry.obsolete = True
                line = line[2:].lstrip()
            elif line.startswith("#,"):
                entry.flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
                continue
            elif line.startswith("#") or not line.strip():
                continue
            keyword, _space, value = line.partition(" ")
            if line.startswith('"'):
                keyword, value = "", line
            text = ast.literal_eval(value)
            if keyword == "msgctxt":
                target, entry.msgctxt = ("msgctxt", 0), text
            elif keyword == "msgid":
                target, entry.msgid = ("msgid", 0), text
            elif keyword == "msgid_plural":
                target, entry.msgid_plural = ("msgid_plural", 0), text
            elif keyword.startswith("msgstr"):
                index = int(keyword[7:-1]) if keyword.startswith("msgstr[") else 0
                target, entry.msgstr[index] = ("msgstr", index), text
            elif keyword == "" and target is not None:
                name, index = target
                if name == "msgstr":
                    entry.msgstr[index] += text
                else:
                    setattr(entry, name, getattr(entry, name) + text)
            else:
                raise AssertionError(f"{path}:{number}: cannot read {raw!r}")
        entries.append(entry)
    assert entries, f"{path} is empty"
    assert entries[0].msgid == "", f"{path} has no header"
    return tuple(entries)


def _blocks(text: str):
    block: list[str] = []
    start = 1
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            if not block:
                start = number
            block.append(line)
        elif block:
            yield start, block
            block = []
    if block:
        yield start, block


def messages(path: Path) -> list[Entry]:
    return [entry for entry in parse(path)[1:] if not entry.obsolete]


def pairs(entry: Entry) -> list[tuple[str, str]]:
    """(source, translation) pairs: the plural form is checked against msgid_plural."""
    if entry.msgid_plural is None:
        return [(entry.msgid, entry.msgstr.get(0, ""))]
    return [
        (entry.msgid if index == 0 else entry.msgid_plural, text)
        for index, text in sorted(entry.msgstr.items())
    ]


# --- The catalogue itself ------------------------------------------------------------------


def test_the_spanish_catalogue_has_a_sound_header():
    header = parse(SPANISH)[0]
    assert "fuzzy" not in header.flags
    fields = dict(line.split(": ", 1) for line in header.msgstr[0].splitlines() if line)
    assert fields["Language"] == "es"
    assert fields["Content-Type"] == "text/plain; charset=UTF-8"
    assert fields["Plural-Forms"] == "nplurals=2; plural=(n != 1);"


def test_every_spanish_entry_is_translated_and_none_is_fuzzy():
    entries = messages(SPANISH)
    assert len(entries) > 500  # the real catalogue, not an empty file
    untranslated = [str(entry) for entry in entries if not entry.translated]
    fuzzy = [str(entry) for entry in entries if "fuzzy" in entry.flags]
    assert not untranslated, f"Untranslated in {SPANISH}: {untranslated}"
    assert not fuzzy, f"Fuzzy (check, then drop the flag) in {SPANISH}: {fuzzy}"


def test_placeholders_and_html_tags_survive_translation():
    wrong = []
    for entry in messages(SPANISH):
        for source, text in pairs(entry):
            if not text:
                continue  # reported by the completeness test
            checks = [(NAMED, "named %(…)s")]
            if "python-format" in entry.flags:
                checks.append((PYTHON_FORMAT, "python-format"))
            if "python-brace-format" in entry.flags:
                checks.append((BRACE_FORMAT, "brace-format"))
            checks.append((HTML_TAG, "HTML tags"))
            for pattern, name in checks:
                expected = Counter(pattern.findall(source))
                found = Counter(pattern.findall(text))
                if expected != found:
                    wrong.append(f"{entry} ({name}): {dict(expected)} != {dict(found)}")
    assert not wrong, "\n".join(wrong)


def test_plural_entries_have_both_spanish_forms():
    for entry in messages(SPANISH):
        if entry.msgid_plural is not None:
            assert sorted(entry.msgstr) == [0, 1], str(entry)


def test_msgfmt_accepts_the_catalogues(tmp_path):
    msgfmt = shutil.which("msgfmt")
    assert msgfmt, "gettext's msgfmt is missing (scripts/setup.sh installs gettext)"
    for path in (SPANISH, ENGLISH):
        result = subprocess.run(
            [msgfmt, "--check", "-o", str(tmp_path / "django.mo"), str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr


def test_the_glossary_terms_are_used():
    spanish = {entry.msgid: entry.msgstr.get(0) for entry in messages(SPANISH) if not entry.msgctxt}
    for english, expected in GLOSSARY.items():
        assert spanish.get(english) == expected, english


def test_the_english_catalogue_only_lists_the_msgids():
    """English is the source language: a msgstr there would hide a change of the source."""
    filled = [str(entry) for entry in messages(ENGLISH) if any(entry.msgstr.values())]
    assert not filled, f"English msgstrs (fix the source text instead): {filled}"
    spanish = {(entry.msgctxt, entry.msgid) for entry in messages(SPANISH)}
    english = {(entry.msgctxt, entry.msgid) for entry in messages(ENGLISH)}
    assert spanish == english, "Run the makemessages command for both languages"


def test_the_compiled_catalogue_is_the_current_one():
    """gettext answers with the .po's msgstr: compilemessages ran after the last change."""
    stale = []
    with translation.override("es"):
        for entry in messages(SPANISH):
            if entry.msgctxt is not None:
                shown = [translation.pgettext(entry.msgctxt, entry.msgid)]
            elif entry.msgid_plural is None:
                shown = [translation.gettext(entry.msgid)]
            else:
                shown = [translation.ngettext(entry.msgid, entry.msgid_plural, n) for n in (1, 2)]
            if shown != [text for _index, text in sorted(entry.msgstr.items())]:
                stale.append(str(entry))
    assert not stale, f"Run compilemessages; stale or missing: {stale}"


# --- Pages in Spanish ------------------------------------------------------------------------


@cache
def english_phrases() -> tuple[str, ...]:
    """English msgids that would give away an untranslated page: several words, and different
    from their Spanish (so "CSV", "Chat" or "DNI" do not count)."""
    found = set()
    for entry in messages(SPANISH):
        for source, text in pairs(entry):
            if " " in source and len(source) >= 8 and source != text and "%" not in source:
                found.add(source)
    return tuple(sorted(found))


def visible_text(html: str) -> str:
    """What a person reads or hears: text and the attributes that assistive technology reads."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S | re.I)
    spoken = " ".join(
        re.findall(r'\b(?:aria-label|title|placeholder|alt)="([^"]*)"', html, flags=re.I)
    )
    return unescape(re.sub(r"<[^>]+>", " ", html) + " " + spoken)


def assert_spanish(html: str, *spanish: str, english: tuple[str, ...] = ()):
    text = visible_text(html)
    assert '<html lang="es">' in html
    for phrase in spanish:
        assert phrase in text, f"{phrase!r} is missing"
    for phrase in english:
        assert phrase not in text, f"English {phrase!r} on a Spanish page"
    leftovers = [phrase for phrase in english_phrases() if phrase in text]
    assert not leftovers, f"English on a Spanish page: {leftovers}"


def spanish_client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="es")


@pytest.mark.django_db
def test_the_login_page_is_in_spanish():
    response = spanish_client().get("/accounts/login/")
    assert response.status_code == 200
    assert_spanish(
        response.text,
        "Iniciar sesión",
        "¿Ha olvidado su contraseña?",
        "Saltar al contenido principal",
        "Contraseña",
        english=("Log in", "Forgotten your password?", "Password", "Username"),
    )


@pytest.mark.django_db
def test_the_login_page_is_in_english_when_asked():
    """The other way round: the English catalogue does not turn pages Spanish."""
    response = Client(HTTP_ACCEPT_LANGUAGE="en").get("/accounts/login/")
    assert '<html lang="en">' in response.text
    assert "Forgotten your password?" in response.text
    assert "Iniciar sesión" not in response.text


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLE_CODES)
def test_the_home_page_is_in_spanish_for_every_role(make_user, role):
    client = spanish_client()
    client.force_login(make_user(role))
    response = client.get("/")
    assert response.status_code == 200
    request = response.wsgi_request
    modules = visible_modules(request)
    panels = home_panels(request)
    assert modules, f"{role} sees no module"
    with translation.override("es"):
        spanish = [str(module.name) for module in modules] + [str(p.title) for p in panels]
    with translation.override("en"):
        english = [str(module.name) for module in modules] + [str(p.title) for p in panels]
    assert_spanish(
        response.text,
        "Mi trabajo",
        "Inicio",
        "Cerrar sesión",
        "Saltar al contenido principal",
        "Mostrar u ocultar el menú",
        *spanish,
        english=("My work", "Log out", "Skip to main content", *english),
    )


@pytest.mark.django_db
def test_the_home_page_of_a_user_without_roles_is_in_spanish(make_user):
    client = spanish_client()
    client.force_login(make_user())
    response = client.get("/")
    assert_spanish(
        response.text,
        "Todavía no tiene ningún módulo asignado. Solicite un rol a un administrador.",
        english=("You have no modules assigned yet.",),
    )


@pytest.mark.django_db
def test_the_403_page_is_in_spanish(make_user):
    client = spanish_client()
    client.force_login(make_user("case_handler"))
    response = client.get("/audit/")
    assert response.status_code == 403
    assert_spanish(
        response.text,
        "Acceso denegado",
        "No tiene permiso para ver esta página.",
        "Ir a la página de inicio",
        english=("Access denied", "You do not have permission", "Go to the home page"),
    )


@pytest.mark.django_db
def test_the_audit_trail_is_in_spanish(make_user):
    client = spanish_client()
    client.force_login(make_user("data_protection_officer"))
    response = client.get("/audit/")
    assert response.status_code == 200
    assert_spanish(
        response.text,
        "Registro de auditoría",
        "Aplicar filtros",
        "Exportar a CSV",
        english=("Audit trail", "Apply filters", "Export to CSV"),
    )
