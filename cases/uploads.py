"""Files citizens attach on the public site: checked by what they are, not by their names, and
cleaned before a case keeps them (cases.services.Upload).

- At most ``SEDE_UPLOAD_MAX_FILES`` files, each up to ``SEDE_UPLOAD_MAX_FILE_SIZE`` bytes and all
  together up to ``SEDE_UPLOAD_MAX_TOTAL_SIZE`` (settings; docs/configuration.md).
- The type is read from the content with libmagic (python-magic): a ``.pdf`` holding HTML or a
  program is refused whatever its name says. Accepted: PDF (kept as it is) and JPEG, PNG, WebP
  and HEIC/HEIF photos.
- Images are decoded with Pillow (pillow-heif for HEIC), turned upright as their EXIF orientation
  says, and encoded afresh without any metadata (EXIF with GPS position and camera serial, XMP,
  comments); HEIC photos become JPEG, which every browser shows.
- ``CappedUploadHandler`` stops storing a file as soon as it passes the limits while the request
  is read, so that a huge file never reaches the disk whole; the form then names it.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import magic
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import SkipFile, TemporaryFileUploadHandler
from django.template.defaultfilters import filesizeformat
from django.utils.text import get_valid_filename
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from PIL import Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

from .services import Upload

register_heif_opener()

# Bytes libmagic reads to tell the type (its own default reads about as much).
SNIFF_BYTES = 64 * 1024
# Larger images are refused rather than decoded (a "decompression bomb" fills the memory).
MAX_IMAGE_PIXELS = 60_000_000
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Kind:
    extension: str  # of the file kept
    image_format: str | None  # Pillow's format to re-encode to; None: kept as it is
    content_type: str  # of the file kept


ACCEPTED: dict[str, Kind] = {
    "application/pdf": Kind("pdf", None, "application/pdf"),
    "image/jpeg": Kind("jpg", "JPEG", "image/jpeg"),
    "image/png": Kind("png", "PNG", "image/png"),
    "image/webp": Kind("webp", "WEBP", "image/webp"),
    "image/heic": Kind("jpg", "JPEG", "image/jpeg"),
    "image/heif": Kind("jpg", "JPEG", "image/jpeg"),
}
# For the file input's ``accept``: a hint to the browser's file picker, never trusted.
ACCEPT_ATTRIBUTE = ",".join([*ACCEPTED, ".pdf", ".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"])


def limits() -> dict[str, int]:
    return {
        "max_files": settings.SEDE_UPLOAD_MAX_FILES,
        "max_file_size": settings.SEDE_UPLOAD_MAX_FILE_SIZE,
        "max_total_size": settings.SEDE_UPLOAD_MAX_TOTAL_SIZE,
    }


def limits_text() -> str:
    """What the form's help says about the files."""
    values = limits()
    return _(
        "PDF documents and JPEG, PNG, WebP or HEIC photos. Up to %(count)s files of at most "
        "%(size)s each, %(total)s in all. Photos are stored without their metadata "
        "(such as the place where they were taken)."
    ) % {
        "count": values["max_files"],
        "size": filesizeformat(values["max_file_size"]),
        "total": filesizeformat(values["max_total_size"]),
    }


def detect(content: bytes) -> str:
    """The MIME type libmagic reads in the first bytes of ``content``."""
    return magic.from_buffer(content[:SNIFF_BYTES], mime=True)


def _kept_name(original: str, kind: Kind) -> str:
    stem = os.path.splitext(os.path.basename(original or ""))[0].strip(" ._")
    try:
        stem = get_valid_filename(stem)[:100]
    except SuspiciousFileOperation:  # nothing usable left
        stem = ""
    return f"{stem or 'file'}.{kind.extension}"


def _reencode(content: bytes, kind: Kind, name: str) -> bytes:
    """The image drawn upright and written afresh with no metadata but its colour profile."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise ValidationError(
                        _("%(name)s: the image is too large (%(width)s by %(height)s pixels).")
                        % {"name": name, "width": image.width, "height": image.height},
                        code="image_too_large",
                    )
                icc_profile = image.info.get("icc_profile")
                upright = ImageOps.exif_transpose(image)
                upright.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):  # fmt: skip
        raise ValidationError(
            _("%(name)s: the image is damaged or not what it claims to be.") % {"name": name},
            code="bad_image",
        ) from None
    # A clean image: pixels only. Nothing of the original's info (EXIF, XMP, comments) follows.
    if kind.image_format == "JPEG" and upright.mode not in ("RGB", "L"):
        upright = upright.convert("RGB")
    elif upright.mode not in ("RGB", "RGBA", "L", "LA"):
        upright = upright.convert("RGBA" if "A" in upright.getbands() else "RGB")
    clean = Image.new(upright.mode, upright.size)
    clean.paste(upright)
    options: dict = {}
    if icc_profile:
        options["icc_profile"] = icc_profile
    if kind.image_format == "JPEG":
        options.update(quality=JPEG_QUALITY, optimize=True)
    elif kind.image_format == "WEBP":
        options.update(quality=JPEG_QUALITY)
    elif kind.image_format == "PNG":
        options.update(optimize=True)
    buffer = io.BytesIO()
    clean.save(buffer, format=kind.image_format, **options)
    return buffer.getvalue()


def clean_upload(name: str, content: bytes) -> Upload:
    """One file, checked and cleaned; ValidationError (naming it) when it is refused."""
    shown = os.path.basename(name or "") or str(_("a file"))
    if not content:
        raise ValidationError(_("%(name)s is empty.") % {"name": shown}, code="empty")
    detected = detect(content)
    kind = ACCEPTED.get(detected)
    if kind is None:
        raise ValidationError(
            _(
                "%(name)s cannot be accepted: it is not a PDF document or a JPEG, PNG, WebP "
                "or HEIC photo, whatever its name says."
            )
            % {"name": shown},
            code="type",
        )
    if kind.image_format is not None:
        content = _reencode(content, kind, shown)
    return Upload(name=_kept_name(name, kind), content=content, content_type=kind.content_type)


def check_uploads(
    files: Sequence[UploadedFile], *, skipped: Sequence[tuple[str, str]] = ()
) -> list[Upload]:
    """All the files of a filing, checked and cleaned; one ValidationError listing every file
    refused. ``skipped`` are (name, reason) of files ``CappedUploadHandler`` did not store."""
    values = limits()
    errors: list[ValidationError] = []
    count = len(files) + sum(1 for _name, reason in skipped if reason == "count")
    if count > values["max_files"]:
        errors.append(
            ValidationError(
                ngettext(
                    "Attach at most %(max)s file; you attached %(count)s.",
                    "Attach at most %(max)s files; you attached %(count)s.",
                    values["max_files"],
                )
                % {"max": values["max_files"], "count": count},
                code="too_many",
            )
        )
    too_big = [name for name, reason in skipped if reason == "size"]
    too_big += [upload.name for upload in files if upload.size > values["max_file_size"]]
    errors += [
        ValidationError(
            _("%(name)s is larger than %(size)s.")
            % {"name": name, "size": filesizeformat(values["max_file_size"])},
            code="too_big",
        )
        for name in too_big
    ]
    total = sum(upload.size for upload in files)
    if total > values["max_total_size"] or any(reason == "total" for _n, reason in skipped):
        errors.append(
            ValidationError(
                _("All the files together may take at most %(size)s.")
                % {"size": filesizeformat(values["max_total_size"])},
                code="total_too_big",
            )
        )
    if errors:
        raise ValidationError(errors)
    cleaned: list[Upload] = []
    for upload in files:
        upload.seek(0)
        try:
            cleaned.append(clean_upload(upload.name, upload.read()))
        except ValidationError as error:
            errors.append(error)
    if errors:
        raise ValidationError(errors)
    return cleaned


class CappedUploadHandler(TemporaryFileUploadHandler):
    """Stores a request's files on disk as Django does, but skips (does not keep) a file past
    the size of one file or of all, and files past the count; ``skipped`` says which."""

    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.limits = limits()
        self.skipped: list[tuple[str, str]] = []
        self.kept = 0
        self.total = 0
        self._size = 0
        self._name = ""

    def new_file(self, field_name, file_name, *args, **kwargs) -> None:
        self._size = 0
        self._name = os.path.basename(file_name or "")
        if self.kept >= self.limits["max_files"]:
            self.skipped.append((self._name, "count"))
            raise SkipFile
        super().new_file(field_name, file_name, *args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self._size += len(raw_data)
        reason = ""
        if self._size > self.limits["max_file_size"]:
            reason = "size"
        elif self.total + self._size > self.limits["max_total_size"]:
            reason = "total"
        if reason:
            self.skipped.append((self._name, reason))
            raise SkipFile  # the parser closes (and so deletes) the partial temporary file
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size: int):
        done = super().file_complete(file_size)
        self.kept += 1
        self.total += file_size
        # The request holds it now: should a later file be skipped, the parser closes the
        # handler's ``file``, which must then not be this one (a closed temporary file is gone).
        del self.file
        return done
