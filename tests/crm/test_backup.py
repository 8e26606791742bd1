"""``manage.py backup`` and ``manage.py restore`` (``make backup`` / ``make restore``): a round
trip gives back every table, every sequence and every file exactly; a damaged backup is refused
and changes nothing."""

import hashlib
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection

from citizens.models import Person
from citizens.services import person_create
from crm.backup import DATABASE_FILE, read_manifest
from crm.models import private_storage

pytestmark = pytest.mark.django_db(transaction=True)


def table_fingerprints() -> dict[str, tuple[int, str]]:
    """Every table of the schema: its row count and an MD5 of all its rows in a fixed order."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' "
            "ORDER BY table_name"
        )
        tables = [name for (name,) in cursor.fetchall()]
        found = {}
        for table in tables:
            quoted = connection.ops.quote_name(table)
            cursor.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "  # noqa: S608
                f"FROM {quoted} t"
            )
            found[table] = cursor.fetchone()
        cursor.execute(
            "SELECT sequencename, last_value FROM pg_sequences "
            "WHERE schemaname = current_schema() ORDER BY sequencename"
        )
        found.update({f"sequence {name}": (value, "") for name, value in cursor.fetchall()})
    return found


def file_hashes(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def media(tmp_path, settings) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.BACKUP_DIR = tmp_path / "backups"
    return settings.MEDIA_ROOT


def make_records() -> None:
    for given_name, kind, document in (
        ("Lucía", "dni", "12345678Z"),
        ("Íñigo", "nie", "X1234567L"),
    ):
        person_create(
            actor=None,
            given_name=given_name,
            first_surname="Pérez",
            document_type=kind,
            document_number=document,
        )
    default_storage.save("cases/2026/photo.jpg", ContentFile(b"\xff\xd8 a photo"))
    private_storage().save("documents/receipt.pdf", ContentFile(b"%PDF-1.7 a receipt"))


def test_a_round_trip_gives_back_every_table_sequence_and_file(media, tmp_path):
    make_records()
    tables_before, files_before = table_fingerprints(), file_hashes(media)
    assert files_before
    assert any(count for count, _ in tables_before.values())

    call_command("backup")
    (folder,) = (tmp_path / "backups").iterdir()
    assert folder.name.startswith("crm-backup-")
    assert set(read_manifest(folder)["files"]) == set(files_before)

    # Life goes on after the backup: records added and changed, files added, changed, deleted.
    person_create(actor=None, given_name="Marta", first_surname="Ruiz")
    Person.objects.filter(given_name="Lucía").update(notes="changed after the backup")
    (media / "cases/2026/photo.jpg").write_bytes(b"another photo")
    (media / "private/documents/receipt.pdf").unlink()
    default_storage.save("later.txt", ContentFile(b"written after the backup"))
    assert table_fingerprints() != tables_before

    call_command("restore", str(folder), "--yes")

    assert table_fingerprints() == tables_before
    assert file_hashes(media) == files_before
    (kept,) = tmp_path.glob("media.before-restore-*")
    assert (kept / "later.txt").read_bytes() == b"written after the backup"


def test_a_damaged_backup_is_refused_and_nothing_changes(media, tmp_path):
    make_records()
    call_command("backup")
    (folder,) = (tmp_path / "backups").iterdir()
    person_create(actor=None, given_name="Marta", first_surname="Ruiz")
    tables, files = table_fingerprints(), file_hashes(media)

    dump = folder / DATABASE_FILE
    dump.write_bytes(dump.read_bytes()[:-100])
    with pytest.raises(CommandError, match="damaged"):
        call_command("restore", str(folder), "--yes")

    assert table_fingerprints() == tables
    assert file_hashes(media) == files


def test_a_folder_that_is_not_a_backup_is_refused(media, tmp_path):
    with pytest.raises(CommandError, match="not a CRM backup"):
        call_command("restore", str(tmp_path), "--yes")
