"""Files attached on the public site: the type read from the content (a .pdf name does not make
a PDF), sizes and count limited, photos re-encoded upright without their metadata, and the form
shown again with every typed value and a clear word that files must be attached again."""

from __future__ import annotations

import io
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from cases.models import Case, CaseAttachment
from cases.uploads import check_uploads, clean_upload
from tests.cases.public_helpers import (
    COMPLAINT,
    EXE,
    HTML,
    PDF,
    filing_data,
    has_gps,
    image_bytes,
    jpeg_with_gps,
    reset_limits,
)


@pytest.fixture(autouse=True)
def fresh(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    reset_limits()
    yield
    reset_limits()


def upload(name: str, content: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)


# --- Checking one file ---------------------------------------------------------------------------


def test_a_pdf_is_kept_as_it_is():
    kept = clean_upload("escrito.PDF", PDF)
    assert kept.content == PDF
    assert kept.content_type == "application/pdf"
    assert kept.name == "escrito.pdf"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("justificante.pdf", HTML),
        ("factura.pdf", EXE),
        ("foto.jpg", b"just some text, not a photo"),
        ("documento.pdf", b"\x00\x01\x02binary junk" * 20),
    ],
    ids=["html-named-pdf", "program-named-pdf", "text-named-jpg", "junk"],
)
def test_a_file_is_refused_by_what_it_is_not_by_its_name(name, content):
    with pytest.raises(ValidationError) as refused:
        clean_upload(name, content)
    assert refused.value.code == "type"
    assert name in refused.value.messages[0]


def test_a_photo_loses_its_location_and_camera_data_and_is_turned_upright():
    original = jpeg_with_gps(size=(40, 20), orientation=6)
    assert has_gps(original)
    assert b"SERIAL-123456" in original
    kept = clean_upload("IMG_0001.JPG", original)
    assert kept.content_type == "image/jpeg"
    assert kept.name == "IMG_0001.jpg"
    assert not has_gps(kept.content)
    assert b"SERIAL-123456" not in kept.content
    assert b"PhoneMaker" not in kept.content
    assert b"Exif" not in kept.content
    with Image.open(io.BytesIO(kept.content)) as image:
        assert not image.getexif()
        assert image.size == (20, 40)  # turned as its orientation said
        top, bottom = image.getpixel((10, 2)), image.getpixel((10, 37))
    assert top[2] > 200
    assert top[0] < 60
    assert bottom[0] > 200
    assert bottom[2] < 60


def test_png_text_chunks_are_dropped():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "Casa de Ana, calle Mayor 3")
    kept = clean_upload("plano.png", image_bytes("PNG", pnginfo=info))
    assert kept.content_type == "image/png"
    assert b"calle Mayor" not in kept.content
    with Image.open(io.BytesIO(kept.content)) as image:
        assert image.format == "PNG"
        assert "Comment" not in image.info


def test_webp_and_heic_photos():
    webp = clean_upload("a.webp", image_bytes("WEBP"))
    assert webp.content_type == "image/webp"
    assert webp.name == "a.webp"
    heic = clean_upload("IMG_0002.HEIC", image_bytes("HEIF"))
    assert heic.content_type == "image/jpeg"
    assert heic.name == "IMG_0002.jpg"
    with Image.open(io.BytesIO(heic.content)) as image:
        assert image.format == "JPEG"


def test_a_damaged_photo_is_refused():
    broken = jpeg_with_gps()[:200]
    with pytest.raises(ValidationError) as refused:
        clean_upload("rota.jpg", broken)
    assert refused.value.code == "bad_image"


def test_a_file_name_cannot_escape_or_carry_markup():
    kept = clean_upload("../../etc/<script>passwd.pdf", PDF)
    assert kept.name == "scriptpasswd.pdf"
    assert clean_upload("....pdf", PDF).name == "pdf.pdf"
    assert clean_upload("<>.pdf", PDF).name == "file.pdf"


def test_limits_of_count_size_and_total(settings):
    settings.SEDE_UPLOAD_MAX_FILES = 2
    settings.SEDE_UPLOAD_MAX_FILE_SIZE = 1000
    settings.SEDE_UPLOAD_MAX_TOTAL_SIZE = 1500
    with pytest.raises(ValidationError) as refused:
        check_uploads([upload(f"{n}.pdf", PDF) for n in range(3)])
    assert [error.code for error in refused.value.error_list] == ["too_many"]
    with pytest.raises(ValidationError) as refused:
        check_uploads([upload("big.pdf", PDF + b"0" * 1000)])
    assert "big.pdf" in refused.value.messages[0]
    with pytest.raises(ValidationError) as refused:
        check_uploads([upload("a.pdf", PDF + b"0" * 800), upload("b.pdf", PDF + b"0" * 800)])
    assert [error.code for error in refused.value.error_list] == ["total_too_big"]
    assert len(check_uploads([upload("a.pdf", PDF), upload("b.pdf", PDF)])) == 2


# --- Through the form ----------------------------------------------------------------------------


def file_with(client, files, **overrides):
    return client.post(COMPLAINT, {**filing_data(**overrides), "attachments": files})


@pytest.mark.django_db
def test_files_are_kept_with_the_case_cleaned(client):
    response = file_with(
        client,
        [upload("escrito.pdf", PDF), upload("farola.jpg", jpeg_with_gps(), "image/jpeg")],
    )
    assert response.status_code == 302
    case = Case.objects.get()
    stored = {a.name: a for a in CaseAttachment.objects.filter(case=case)}
    assert set(stored) == {"escrito.pdf", "farola.jpg"}
    photo = stored["farola.jpg"]
    with photo.file.open("rb") as kept:
        content = kept.read()
    assert not has_gps(content)
    assert photo.content_type == "image/jpeg"
    assert photo.size == len(content)
    assert photo.from_citizen
    with stored["escrito.pdf"].file.open("rb") as kept:
        assert kept.read() == PDF


@pytest.mark.django_db
def test_a_pdf_name_with_html_inside_is_refused_and_the_form_kept(client):
    response = file_with(client, [upload("factura.pdf", HTML, "application/pdf")])
    assert response.status_code == 200
    assert not Case.objects.exists()
    page = response.text
    assert 'id="id_attachments_error"' in page
    assert "factura.pdf" in page
    assert 'href="#id_attachments"' in page
    # Nothing typed is lost, and the citizen is told to attach the files again.
    assert 'value="Ana"' in page
    assert "La farola de la calle Mayor 3" in page
    notice = re.search(
        r'<div class="alert alert-warning" id="attach-again">(.*?)</div>', page, re.S
    )
    assert notice
    assert "factura.pdf" in notice.group(1)


@pytest.mark.django_db
def test_too_many_files_are_refused(client, settings):
    settings.SEDE_UPLOAD_MAX_FILES = 2
    response = file_with(client, [upload(f"{n}.pdf", PDF) for n in range(3)])
    assert response.status_code == 200
    assert not Case.objects.exists()
    assert re.search(r"id=\"id_attachments_error\">.*\b2\b.*\b3\b", response.text, re.S)
    assert not CaseAttachment.objects.exists()


@pytest.mark.django_db
def test_a_file_too_big_is_not_stored_and_is_named(client, settings, tmp_path):
    settings.SEDE_UPLOAD_MAX_FILE_SIZE = 200_000
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    big = upload("plano.pdf", PDF + b"0" * 400_000, "application/pdf")
    response = file_with(client, [big, upload("carta.pdf", PDF)])
    assert response.status_code == 200
    assert not Case.objects.exists()
    error = re.search(r'id="id_attachments_error">(.*?)</div>', response.text, re.S).group(1)
    assert "plano.pdf" in error
    assert "carta.pdf" not in error
    assert "plano.pdf" in response.text.split('id="attach-again"')[1]
    assert not list(tmp_path.glob("*.upload*"))  # no temporary copy left behind


@pytest.mark.django_db
def test_all_the_files_together_may_not_pass_the_total(client, settings):
    settings.SEDE_UPLOAD_MAX_FILE_SIZE = 300_000
    settings.SEDE_UPLOAD_MAX_TOTAL_SIZE = 400_000
    files = [upload(f"{n}.pdf", PDF + b"0" * 250_000, "application/pdf") for n in range(2)]
    response = file_with(client, files)
    assert response.status_code == 200
    assert 'id="id_attachments_error"' in response.text
    assert not Case.objects.exists()
