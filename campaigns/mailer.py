"""A campaign message as it goes out: headers (RFC 8058 one-click unsubscribe, the delivery's
id), signed links (unsubscribe, tracking) and one persistent SMTP connection per sender.

Tokens are signed with the site's SECRET_KEY (``django.core.signing``): the public pages trust
nothing else in a URL, and the click redirect only goes to a URL that the signature binds to the
delivery (never an open redirect).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
from base64 import b64encode
from binascii import b2a_qp
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.core.mail import mailers
from django.urls import reverse

from campaigns import messages

UNSUBSCRIBE_SALT = "campaigns.unsubscribe"
CLICK_SALT = "campaigns.click"
OPEN_SALT = "campaigns.open"
DELIVERY_HEADER = "X-CRM-Delivery"
_VERP = re.compile(r"^[^+@]+\+d(\d+)\.([0-9a-f]{10})@", re.IGNORECASE)


def _domain() -> str:
    address = parseaddr(settings.CAMPAIGN_FROM_EMAIL)[1]
    return address.rpartition("@")[2] or "localhost"


def message_id(delivery_id: int) -> str:
    """The same Message-ID on every attempt of a delivery: a message sent again after a
    crash is recognisable as the same one (many mailbox providers keep only one)."""
    return f"<campaign-delivery-{delivery_id}@{_domain()}>"


def public_url(path: str) -> str:
    return settings.PUBLIC_BASE_URL + path


# --- Tokens -------------------------------------------------------------------------------------


def unsubscribe_token(delivery_id: int) -> str:
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign(str(delivery_id))


def unsubscribe_url(delivery_id: int) -> str:
    return _unsubscribe_base().replace("TOKEN", unsubscribe_token(delivery_id))


@lru_cache(maxsize=1)
def _unsubscribe_base() -> str:
    return public_url(reverse("campaigns_public:unsubscribe", args=["TOKEN"]))


def delivery_for_token(token: str, salt: str = UNSUBSCRIBE_SALT) -> int | None:
    """The delivery id a token was signed for, or None for a forged or mangled one."""
    try:
        value = signing.Signer(salt=salt).unsign(token)
    except signing.BadSignature:
        return None
    return int(value) if value.isdigit() else None


def click_url(delivery_id: int, url: str) -> str:
    token = signing.dumps([delivery_id, url], salt=CLICK_SALT, compress=True)
    return public_url(reverse("campaigns_public:click", args=[token]))


def click_target(token: str) -> tuple[int, str] | None:
    """(delivery id, URL) of a click token, or None when it was not signed by us."""
    try:
        delivery_id, url = signing.loads(token, salt=CLICK_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(delivery_id, int) or not isinstance(url, str):
        return None
    if not url.startswith(("http://", "https://")):
        return None
    return delivery_id, url


def open_url(delivery_id: int) -> str:
    token = signing.Signer(salt=OPEN_SALT).sign(str(delivery_id))
    return public_url(reverse("campaigns_public:open", args=[token]))


def bounce_address(delivery_id: int) -> str:
    """The envelope sender: VERP (``local+d<id>.<sig>@domain``) when a bounce address is set."""
    base = settings.CAMPAIGN_BOUNCE_ADDRESS
    if not base:
        return parseaddr(settings.CAMPAIGN_FROM_EMAIL)[1]
    local, _at, domain = base.partition("@")
    return f"{local}+d{delivery_id}.{_verp_signature(delivery_id)}@{domain}"


def _verp_signature(delivery_id: int) -> str:
    key = f"{settings.SECRET_KEY}:campaigns.verp".encode()
    return hmac.new(key, str(delivery_id).encode(), hashlib.sha256).hexdigest()[:10]


def delivery_for_bounce_address(address: str) -> int | None:
    match = _VERP.match(address.strip().strip("<>"))
    if match is None:
        return None
    delivery_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2).lower(), _verp_signature(delivery_id)):
        return None
    return delivery_id


# --- The message --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutgoingMessage:
    envelope_from: str
    to: str
    subject: str
    data: bytes  # the whole message, CRLF line ends, ready for DATA

    @property
    def parsed(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


def _header(value: str) -> str:
    """A header value as ASCII: RFC 2047 encoded words (UTF-8, base64, at most 45 bytes of text
    each, so lines stay short) when it has other characters."""
    value = " ".join(value.split())  # no line breaks (header injection) nor runs of spaces
    if value.isascii():
        return value
    words: list[bytes] = []
    chunk = b""
    for character in value:
        encoded = character.encode()
        if len(chunk) + len(encoded) > 45:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{b64encode(word).decode()}?=" for word in words)


def _address_header(name: str, address: str) -> str:
    name = " ".join(name.split())
    if name.isascii():
        return formataddr((name, address))
    return f"{_header(name)} <{address}>"


def _qp(text: str) -> bytes:
    """A text part's body: quoted-printable (binascii, in C), CRLF line ends."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    return b2a_qp(lines.encode(), istext=True).replace(b"\n", b"\r\n")


def build_message(campaign, person, *, delivery_id: int, to: str) -> OutgoingMessage:
    """The campaign's message for one delivery, merged and with every header it needs.

    The MIME structure is written here (multipart/alternative, two quoted-printable UTF-8
    parts, RFC 2047 headers where needed) rather than by the standard library's generator: it
    folds every header through a parser and costs several milliseconds a message, which a
    sender of hundreds of messages a second cannot pay. The tests read every message back
    with the standard library's parser.
    """
    unsubscribe = unsubscribe_url(delivery_id)
    links = (lambda url: click_url(delivery_id, url)) if campaign.track_clicks else None
    rendered = messages.render(campaign, person, unsubscribe_url=unsubscribe, links=links)
    html = rendered.html
    if campaign.track_opens:
        pixel = f'<img src="{open_url(delivery_id)}" width="1" height="1" alt="">'
        position = html.lower().rfind("</body>")
        html = html + pixel if position == -1 else html[:position] + pixel + html[position:]
    boundary = f"=_crm_{delivery_id}_{secrets.token_hex(8)}"
    headers = (
        ("Subject", _header(rendered.subject)),
        ("From", _from_header()),
        ("To", _address_header(person.full_name, to)),
        ("Date", formatdate(usegmt=True)),
        ("Message-ID", message_id(delivery_id)),
        (DELIVERY_HEADER, str(delivery_id)),
        ("List-Unsubscribe", f"<{unsubscribe}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("List-Id", _list_id(campaign)),
        ("Precedence", "bulk"),
        ("Auto-Submitted", "auto-generated"),
        ("Content-Language", campaign.email_language),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    )
    head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("ascii")
    part = (
        f'--{boundary}\r\nContent-Type: text/%s; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    data = b"".join(
        (
            head,
            b"\r\n",
            (part % "plain").encode(),
            _qp(rendered.text),
            b"\r\n",
            (part % "html").encode(),
            _qp(html),
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
    return OutgoingMessage(
        envelope_from=bounce_address(delivery_id), to=to, subject=rendered.subject, data=data
    )


def _list_id(campaign) -> str:
    name = _header(campaign.name)
    return f"{name} <campaign-{campaign.pk}.{_domain()}>"


def _from_header() -> str:
    name, address = parseaddr(settings.CAMPAIGN_FROM_EMAIL)
    return _address_header(name, address)


class Connection:
    """One SMTP connection, opened at first use and kept for every message of a sender."""

    def __init__(self, alias: str | None = None) -> None:
        self.alias = alias or settings.CAMPAIGN_MAILER
        self.backend = None

    def send(self, message: OutgoingMessage) -> None:
        """Hand the message over; an SMTP or network error raises (and drops the connection,
        which the next message opens again). Django's SMTP backend opens the connection (TLS,
        authentication, timeout from MAILERS); the message goes through its smtplib client."""
        if self.backend is None:
            backend = mailers[self.alias]
            backend.open()
            self.backend = backend
        smtp = getattr(self.backend, "connection", None)
        try:
            if smtp is None:
                raise RuntimeError(
                    f"The mailer {self.alias!r} (CAMPAIGN_MAILER) is not an SMTP mailer."
                )
            smtp.sendmail(message.envelope_from, [message.to], message.data)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.backend is not None:
            backend, self.backend = self.backend, None
            with contextlib.suppress(Exception):  # a broken connection closes as it can
                backend.close()
