"""crm.pdf.render_pdf: documents embed inline images and never reach the network."""

import io
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pypdf
import pytest

from crm.documents import qr_data_uri
from crm.pdf import render_pdf


@pytest.fixture
def web_server():
    """A local web server that counts the requests it gets."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()
    server.server_close()


def images(pdf: bytes) -> int:
    return sum(len(page.images) for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def verification(qr: str) -> dict:
    return {"qr": qr, "title": "Justificante", "code": "ABCD-EFGH-JKMN-PQRS", "url": "x"}


def test_an_inline_image_is_embedded():
    pdf = render_pdf("pdf/base.html", {"verification": verification(qr_data_uri("hello"))})
    assert pdf.startswith(b"%PDF")
    assert images(pdf) == 1


def test_a_document_never_fetches_an_address(web_server):
    address, hits = web_server
    pdf = render_pdf("pdf/base.html", {"verification": verification(f"{address}/qr.png")})
    assert pdf.startswith(b"%PDF")
    assert images(pdf) == 0
    assert hits == []
