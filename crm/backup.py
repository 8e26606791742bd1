"""Backups of the whole CRM: the database and the uploaded files, consistent with each other.

A backup is a folder ``crm-backup-<UTC time>/`` holding:

``database.dump``  ``pg_dump --format=custom`` of the CRM's database: one snapshot, taken while the
                   CRM keeps running (PostgreSQL's MVCC; nothing is locked against writers).
``files.tar``      every file under ``MEDIA_ROOT`` (uploads, issued documents, import files),
                   copied *after* the snapshot was taken. Stored files are never overwritten
                   (every upload gets a new name), so every file a row of the snapshot refers to
                   is in the archive. A file deleted while the backup runs (an import that ends
                   deletes its file) may be missing: its row no longer needs it.
``manifest.json``  when, from which database and migrations, and the SHA-256 of the two parts and
                   of every file, so that a damaged or tampered backup is refused by ``restore``.

``restore`` checks the manifest, replaces the database's contents in one transaction
(``pg_restore --clean --single-transaction``: either everything is restored or nothing changes)
and then puts the files in place by renaming a fully extracted folder over ``MEDIA_ROOT`` (the
previous files are kept beside it, ``<MEDIA_ROOT>.before-restore-<time>``). Stop the web, worker
and beat processes first: docs/operations.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

FORMAT_VERSION = 1
DATABASE_FILE = "database.dump"
FILES_FILE = "files.tar"
MANIFEST_FILE = "manifest.json"
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup could not be made or restored; the message says why."""


@dataclass(frozen=True)
class RestoreResult:
    database: str
    files: int
    previous_files: Path | None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _pg_tool(name: str) -> str:
    """``pg_dump``/``pg_restore`` matching the server where Debian keeps several versions."""
    found = shutil.which(name)
    versions = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
        reverse=True,
    )
    if versions:
        return str(versions[0])
    if found:
        return found
    raise BackupError(f"{name} was not found: install PostgreSQL's client tools.")


def _pg_env() -> dict[str, str]:
    """libpq's environment for the CRM's database (the password never on a command line)."""
    db = connection.settings_dict
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    values = {
        "PGHOST": db.get("HOST") or "",
        "PGPORT": str(db.get("PORT") or ""),
        "PGUSER": db.get("USER") or "",
        "PGPASSWORD": db.get("PASSWORD") or "",
        "PGDATABASE": db["NAME"],
        "PGSSLMODE": str(db.get("OPTIONS", {}).get("sslmode", "")),
        "PGCONNECT_TIMEOUT": "10",
    }
    env.update({key: value for key, value in values.items() if value})
    return env


def _run(command: list[str]) -> None:
    # The command is PostgreSQL's own tool with arguments built here; nothing comes from a user.
    result = subprocess.run(  # noqa: S603
        command, env=_pg_env(), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {result.stderr.strip()}")


def _media_files(root: Path) -> Iterator[Path]:
    if not root.exists():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path


def _applied_migrations() -> dict[str, str]:
    latest: dict[str, str] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        latest[app] = max(latest.get(app, ""), name)
    return dict(sorted(latest.items()))


def backup(destination: Path | None = None) -> Path:
    """Make a backup folder under ``destination`` (``settings.BACKUP_DIR``) and return it."""
    parent = Path(destination or settings.BACKUP_DIR)
    parent.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    folder = parent / f"crm-backup-{started:%Y%m%dT%H%M%S%fZ}"
    partial = parent / f".{folder.name}.partial"
    partial.mkdir()
    try:
        migrations = _applied_migrations()
        _run(
            [
                _pg_tool("pg_dump"),
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--file={partial / DATABASE_FILE}",
            ]
        )
        media_root = Path(settings.MEDIA_ROOT)
        files: dict[str, str] = {}
        with tarfile.open(partial / FILES_FILE, "w") as archive:
            for path in _media_files(media_root):
                name = path.relative_to(media_root).as_posix()
                try:
                    files[name] = _sha256(path)
                    archive.add(path, arcname=name, recursive=False)
                except FileNotFoundError:  # deleted while we copy: its row no longer needs it
                    files.pop(name, None)
        manifest = {
            "format": FORMAT_VERSION,
            "created_at": started.isoformat(),
            "database": connection.settings_dict["NAME"],
            "migrations": migrations,
            "parts": {
                DATABASE_FILE: _sha256(partial / DATABASE_FILE),
                FILES_FILE: _sha256(partial / FILES_FILE),
            },
            "files": files,
        }
        (partial / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        partial.rename(folder)  # a folder named crm-backup-* is always complete
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return folder


def read_manifest(folder: Path) -> dict[str, Any]:
    """The backup's manifest, once every part's SHA-256 matches it."""
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
    except (OSError, ValueError) as error:
        raise BackupError(f"{folder} is not a CRM backup: {error}") from error
    if manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"Unknown backup format {manifest.get('format')!r}.")
    for part, expected in manifest["parts"].items():
        path = folder / part
        if not path.is_file() or _sha256(path) != expected:
            raise BackupError(f"{path} is missing or damaged: its SHA-256 does not match.")
    return manifest


def _extract(folder: Path, manifest: dict[str, Any], target: Path) -> int:
    expected: dict[str, str] = manifest["files"]
    with tarfile.open(folder / FILES_FILE) as archive:
        archive.extractall(target, filter="data")  # refuses absolute paths, "..", devices
    found = {path.relative_to(target).as_posix(): _sha256(path) for path in _media_files(target)}
    if found != expected:
        raise BackupError("The files in the backup do not match its manifest.")
    return len(found)


def restore(folder: Path) -> RestoreResult:
    """Replace the database's contents and ``MEDIA_ROOT`` with the backup in ``folder``."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    media_root = Path(settings.MEDIA_ROOT)
    media_root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=media_root.parent))
    try:
        count = _extract(folder, manifest, staging)
        connection.close()  # pg_restore drops and creates tables: hold no connection open
        _run(
            [
                _pg_tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                f"--dbname={connection.settings_dict['NAME']}",
                str(folder / DATABASE_FILE),
            ]
        )
        previous: Path | None = None
        if media_root.exists():
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            previous = media_root.with_name(f"{media_root.name}.before-restore-{stamp}")
            media_root.rename(previous)
        staging.rename(media_root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return RestoreResult(
        database=connection.settings_dict["NAME"], files=count, previous_files=previous
    )
