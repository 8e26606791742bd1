"""Read deployment settings from the environment, rejecting bad values with a clear message.

Every value the settings module takes from outside goes through one of these helpers, so a
typo in a deployment (``DEBUG=ture``, ``EMAIL_URL=smpt://...``) stops the process at start-up
with the variable's name and what was expected, instead of running half-configured.
"""

from __future__ import annotations

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
        value = self._raw(name)
        if value is None:
            return default
        scheme = urlsplit(value).scheme
        if scheme not in {"postgres", "postgresql", "pgsql"}:
            raise ImproperlyConfigured(
                f"{name} must be a PostgreSQL URL such as "
                f"'postgres://user:password@host:5432/crm', got scheme {scheme!r}."
            )
        config = environ.Env.db_url_config(value)
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
        value = self._raw(name) or default
        scheme = urlsplit(value).scheme
        known = {"smtp", "smtps", "submission", "submit", "consolemail", "filemail", "memorymail"}
        if scheme not in known and not scheme.startswith("smtp+"):
            raise ImproperlyConfigured(
                f"{name} must be an email URL such as 'smtp://user:password@host:587' "
                f"(or smtp+tls://, smtps://, consolemail://), got scheme {scheme!r}."
            )
        config = environ.Env.email_url_config(value)
        if scheme.startswith("smtp") and not config.get("EMAIL_HOST"):
            raise ImproperlyConfigured(f"{name} must give the SMTP host, got {value!r}.")
        return config


def redis_for_celery(url: str) -> str:
    """Kombu names a Unix-socket Redis ``redis+socket://``; Django and redis-py say ``unix://``."""
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url
