"""Read deployment settings from the environment, rejecting bad values with a clear message.

Every value the settings module takes from outside goes through one of these helpers, so a
typo in a deployment (``DEBUG=ture``, ``EMAIL_URL=smpt://...``) stops the process at start-up
with the variable's name and what was expected, instead of running half-configured.
"""

from __future__ import annotations

import json
import os
import zoneinfo
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})

_UNSET = object()

# SMTP URL scheme -> (STARTTLS, implicit TLS, default port)
SMTP_SECURITY = {
    "smtp": (False, False, 25),
    "smtp+tls": (True, False, 587),
    "smtps": (False, True, 465),
    "smtp+ssl": (False, True, 465),
}


class Env:
    """A view of an environment mapping (``os.environ`` by default) with typed readers."""

    def __init__(self, environ_: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ_ is None else environ_

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def is_set(self, name: str) -> bool:
        return self._raw(name) is not None

    def str(self, name: str, default: Any = _UNSET) -> str:
        value = self._raw(name)
        if value is None:
            if default is _UNSET:
                raise ImproperlyConfigured(f"{name} must be set.")
            return default
        return value

    def bool(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        word = value.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ImproperlyConfigured(
            f"{name} must be one of {sorted(TRUE_WORDS | FALSE_WORDS)}, got {value!r}."
        )

    def int(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}.") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}.")
        if maximum is not None and number > maximum:
            raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {number}.")
        return number

    def list(self, name: str, default: list[str] | None = None) -> list[str]:
        value = self._raw(name)
        if value is None:
            return list(default or [])
        return [item.strip() for item in value.split(",") if item.strip()]

    def choice(self, name: str, default: str, choices: list[str] | tuple[str, ...]) -> str:
        value = self._raw(name)
        if value is None:
            return default
        if value not in choices:
            raise ImproperlyConfigured(f"{name} must be one of {list(choices)}, got {value!r}.")
        return value

    def json_object(self, name: str) -> dict[str, str]:
        """A JSON object of strings, e.g. LDAP_ROLE_MAP='{"cn=...": "case_handler"}'."""
        value = self._raw(name)
        if value is None:
            return {}
        try:
            data = json.loads(value)
        except json.JSONDecodeError as error:
            raise ImproperlyConfigured(f"{name} must be a JSON object: {error}.") from None
        if not isinstance(data, dict) or not all(
            isinstance(key, str) and isinstance(item, str) for key, item in data.items()
        ):
            raise ImproperlyConfigured(
                f'{name} must be a JSON object of strings, e.g. {{"cn=group,dc=example": "code"}}.'
            )
        return data

    def time_zone(self, name: str, default: str) -> str:
        value = self._raw(name) or default
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ImproperlyConfigured(
                f"{name} must be an IANA time zone such as 'Europe/Madrid', got {value!r}."
            ) from None
        return value

    def database(self, name: str, default: dict[str, Any]) -> dict[str, Any]:
        """A PostgreSQL URL; a Unix-socket server is ``postgres://user@//socket/dir/dbname``."""
        value = self._raw(name)
        if value is None:
            return default
        scheme = urlsplit(value).scheme
        if scheme not in {"postgres", "postgresql", "pgsql"}:
            raise ImproperlyConfigured(
                f"{name} must be a PostgreSQL URL such as "
                f"'postgres://user:password@host:5432/crm', got scheme {scheme!r}."
            )
        try:
            config = environ.Env.db_url_config(value)
        except ValueError as error:
            raise ImproperlyConfigured(f"{name} is not a valid URL: {error}.") from None
        if not config.get("NAME"):
            raise ImproperlyConfigured(f"{name} must name a database, e.g. '.../crm'.")
        return config

    def redis_url(self, name: str, default: str) -> str:
        value = self._raw(name) or default
        parts = urlsplit(value)
        if parts.scheme not in {"redis", "rediss", "unix"}:
            raise ImproperlyConfigured(
                f"{name} must be a Redis URL such as 'redis://localhost:6379/0' or "
                f"'unix:///path/redis.sock?db=0', got {value!r}."
            )
        if parts.scheme == "unix" and not parts.path:
            raise ImproperlyConfigured(f"{name} must give the socket's path, got {value!r}.")
        if parts.scheme != "unix" and not parts.hostname:
            raise ImproperlyConfigured(f"{name} must give a host, got {value!r}.")
        return value

    def email(self, name: str, default: str) -> dict[str, Any]:
        """An email URL. ``smtp://`` is plain SMTP (port 25), ``smtp+tls://`` upgrades with
        STARTTLS (port 587), ``smtps://`` and ``smtp+ssl://`` speak TLS from the first byte
        (port 465, RFC 8314); ``consolemail://``, ``filemail://``, ``memorymail://`` and
        ``dummymail://`` select Django's other backends."""
        value = self._raw(name) or default
        scheme = urlsplit(value).scheme
        if scheme not in environ.Env.EMAIL_SCHEMES:
            raise ImproperlyConfigured(
                f"{name} must be an email URL such as 'smtp+tls://user:password@host:587' "
                f"(or smtp://, smtps://, consolemail://), got scheme {scheme!r}."
            )
        try:
            config = environ.Env.email_url_config(value)
        except ValueError as error:
            raise ImproperlyConfigured(f"{name} is not a valid URL: {error}.") from None
        if scheme in SMTP_SECURITY:
            if not config.get("EMAIL_HOST"):
                raise ImproperlyConfigured(f"{name} must give the SMTP host, got {value!r}.")
            use_tls, use_ssl, port = SMTP_SECURITY[scheme]
            # django-environ reads smtps:// as STARTTLS; here it means implicit TLS, as in curl.
            config.update(EMAIL_USE_TLS=use_tls, EMAIL_USE_SSL=use_ssl)
            config["EMAIL_PORT"] = config.get("EMAIL_PORT") or port
        return config


def redis_for_celery(url: str) -> str:
    """Kombu names a Unix-socket Redis ``redis+socket://``; Django and redis-py say ``unix://``."""
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url
