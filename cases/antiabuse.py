"""Protection of the public forms without third parties (no CAPTCHA service, no tracking):

- ``RateLimit``: submissions per client address in a fixed window, counted in the cache (Redis);
  over the limit the views answer 429 with ``Retry-After``.
- A *form stamp*: the time the form was shown, signed with the secret key (django.core.signing),
  sent back in a hidden field. A form sent sooner than ``SEDE_MIN_FILL_SECONDS`` after it was
  shown is refused with a message (people read and type; robots post at once); a stamp that was
  altered, or is older than ``STAMP_MAX_AGE``, is replaced and the citizen asked to send again.
- A honeypot field (``HONEYPOT_FIELD``) that people never see nor reach (not displayed, so also
  out of the accessibility tree and the tab order): only robots fill it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest

from crm.audit import client_ip

STAMP_SALT = "cases.public-form.stamp"
STAMP_MAX_AGE = 24 * 3600  # seconds: a form left open longer is shown again with a fresh stamp
HONEYPOT_FIELD = "contact_preference_note"


@dataclass(frozen=True)
class RateLimit:
    """``limit`` hits per client address in fixed windows of ``window`` seconds (the settings
    named are read at each call, so a deployment or a test can change them)."""

    name: str
    limit_setting: str
    window_setting: str

    @property
    def limit(self) -> int:
        return getattr(settings, self.limit_setting)

    @property
    def window(self) -> int:
        return getattr(settings, self.window_setting) * 60

    def key(self, ip: str | None, bucket: int) -> str:
        return f"sede:{self.name}:{ip or 'unknown'}:{bucket}"

    def hit(self, request: HttpRequest, now: float | None = None) -> int | None:
        """Count one hit of the client: None while within the limit, else the seconds until
        the window ends (for ``Retry-After``)."""
        now = time.time() if now is None else now
        window = self.window
        bucket = int(now // window)
        key = self.key(client_ip(request), bucket)
        cache.add(key, 0, timeout=window + 5)
        try:
            hits = cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.set(key, 1, timeout=window + 5)
            hits = 1
        if hits <= self.limit:
            return None
        return max(1, math.ceil((bucket + 1) * window - now))

    def reset(self, ip: str | None, now: float | None = None) -> None:
        now = time.time() if now is None else now
        cache.delete(self.key(ip, int(now // self.window)))


FILINGS = RateLimit("filings", "SEDE_FILING_LIMIT", "SEDE_FILING_WINDOW_MINUTES")
TRACKING = RateLimit("tracking", "SEDE_TRACKING_LIMIT", "SEDE_TRACKING_WINDOW_MINUTES")


def form_stamp(at: float | None = None) -> str:
    """A signed record of when a form was shown."""
    return signing.dumps({"shown": time.time() if at is None else at}, salt=STAMP_SALT)


def stamp_time(stamp: str) -> float | None:
    """When the form carrying ``stamp`` was shown; None if it is forged or too old."""
    try:
        data = signing.loads(stamp or "", salt=STAMP_SALT, max_age=STAMP_MAX_AGE)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    shown = data.get("shown") if isinstance(data, dict) else None
    return float(shown) if isinstance(shown, int | float) else None
