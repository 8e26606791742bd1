"""What the tests of the public site (sede electrónica) share: a valid filing, files of each
kind, and a fresh start of the per-address limits."""

from __future__ import annotations

import io
import time

from PIL import ExifTags, Image

from cases.antiabuse import FILINGS, TRACKING, form_stamp
from cases.models import SubjectArea

CLIENT_IP = "127.0.0.1"  # Django's test client and the live server's browser
COMPLAINT = "/sede/queja/"
RECEIPT = "/sede/justificante/"
TRACKING_URL = "/sede/seguimiento/"
ACCESSIBILITY = "/sede/accesibilidad/"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HTML = (
    b"<!doctype html><html><head><title>x</title></head>"
    b"<body><script>alert(1)</script></body></html>"
)
# The start of a Windows program: DOS header ("MZ", e_lfanew = 0x80), then the PE signature.
EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"\x00" * 44
    + b"\x80\x00\x00\x00"
    + b"\x00" * 64
    + b"PE\x00\x00L\x01\x03\x00"
    + b"\x00" * 200
)


def reset_limits(ip: str = CLIENT_IP) -> None:
    FILINGS.reset(ip)
    TRACKING.reset(ip)


def old_stamp(seconds: float = 60) -> str:
    """A form stamp as if the form had been shown ``seconds`` ago."""
    return form_stamp(at=time.time() - seconds)


def filing_data(**overrides) -> dict:
    """A complaint as a citizen types it (valid), shown a minute ago."""
    data = {
        "given_name": "Ana",
        "first_surname": "Ruiz",
        "second_surname": "Gómez",
        "document_type": "dni",
        "document_number": "12345678z",
        "email": "Ana.Ruiz@Example.org",
        "phone": "",
        "street": "Calle Mayor",
        "street_number": "3, 2º B",
        "postcode": "28013",
        "municipality": "Madrid",
        "province": "Madrid",
        "subject_area": "",
        "subject": "Farola apagada",
        "text": "La farola de la calle Mayor 3 lleva una semana apagada.",
        "privacy": "on",
        "stamp": old_stamp(),
    }
    data.update(overrides)
    if data["subject_area"] == "":
        data["subject_area"] = str(SubjectArea.objects.filter(active=True).first().pk)
    return {key: value for key, value in data.items() if value is not None}


def jpeg_with_gps(size=(40, 20), orientation: int = 6) -> bytes:
    """A JPEG whose EXIF says where it was taken (GPS) and that it must be turned 90°."""
    image = Image.new("RGB", size, "red")
    image.paste((0, 0, 255), (0, 0, size[0] // 2, size[1]))  # left half blue
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.BodySerialNumber] = "SERIAL-123456"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (40.0, 25.0, 1.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (3.0, 42.0, 2.0)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    return buffer.getvalue()


def has_gps(content: bytes) -> bool:
    with Image.open(io.BytesIO(content)) as image:
        return bool(image.getexif().get_ifd(ExifTags.IFD.GPSInfo))


def image_bytes(fmt: str, size=(30, 20), **options) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "green").save(buffer, format=fmt, **options)
    return buffer.getvalue()
