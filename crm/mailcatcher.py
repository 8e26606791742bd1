"""A local SMTP server that keeps every message it receives in a Maildir (embedded default).

``make run`` starts it so that outgoing mail never leaves the machine and a person can read it:
each message is one file under ``.data/mail/new/`` (open it with any mail client, or
``mutt -f .data/mail``).
"""

from __future__ import annotations

import argparse
import mailbox
import signal
import threading
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

DEFAULT_MAILDIR = Path(__file__).resolve().parent.parent / ".data" / "mail"


class MaildirHandler:
    def __init__(self, maildir: Path) -> None:
        self.mailbox = mailbox.Maildir(maildir, create=True)
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = message_from_bytes(envelope.original_content or b"", policy=policy.compat32)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self.lock:
            self.mailbox.add(mailbox.MaildirMessage(message))
        return "250 Message accepted for delivery"


def serve(port: int, maildir: Path) -> None:
    controller = Controller(MaildirHandler(maildir), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--maildir", type=Path, default=DEFAULT_MAILDIR)
    options = parser.parse_args()
    serve(options.port, options.maildir)


if __name__ == "__main__":
    main()
