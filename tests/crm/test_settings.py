"""The settings read every deployment value through crm.env, which rejects bad values clearly."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from crm.env import Env

BASE_DIR = Path(__file__).resolve().parent.parent.parent
A_SECRET_KEY = "x7Kq2-deployment-key-for-tests-only-9fLm3vPz8RtYw4NcHj6BsXe1Ua5"
DEPLOYMENT = {
    "DATABASE_URL": "postgres://crm:secret@db.example.org:5432/crm",
    "SECRET_KEY": A_SECRET_KEY,
    "ALLOWED_HOSTS": "crm.example.org",
}


def read(method: str, name: str, value: str, *args, **kwargs):
    return getattr(Env({name: value}), method)(name, *args, **kwargs)


BAD_VALUES = [
    ("bool", "DEBUG", "maybe", (False,), {}),
    ("int", "CONN_MAX_AGE", "abc", (60,), {"minimum": 0}),
    ("int", "CONN_MAX_AGE", "-1", (60,), {"minimum": 0}),
    ("time_zone", "TIME_ZONE", "Mars/Base", ("Europe/Madrid",), {}),
    ("database", "DATABASE_URL", "mysql://crm:secret@db.example.org/crm", ({},), {}),
    ("database", "DATABASE_URL", "postgres://crm@db.example.org:port/crm", ({},), {}),
    ("database", "DATABASE_URL", "postgres://crm@db.example.org:5432/", ({},), {}),
    ("redis_url", "REDIS_URL", "http://redis.example.org:6379/0", ("redis://localhost",), {}),
    ("redis_url", "REDIS_URL", "unix://", ("redis://localhost",), {}),
    ("email", "EMAIL_URL", "smpt://x", ("smtp://localhost",), {}),
    ("email", "EMAIL_URL", "smtp://", ("smtp://localhost",), {}),
    ("email", "EMAIL_URL", "smtp+starttls://mail.example.org", ("smtp://localhost",), {}),
    ("choice", "LOG_FORMAT", "xml", ("text", ("text", "json")), {}),
]


@pytest.mark.parametrize(("method", "name", "value", "args", "kwargs"), BAD_VALUES)
def test_a_bad_value_is_rejected_naming_the_variable(method, name, value, args, kwargs):
    with pytest.raises(ImproperlyConfigured, match=rf"^{name} "):
        read(method, name, value, *args, **kwargs)


@pytest.mark.parametrize(
    ("method", "name", "value", "args", "kwargs", "expected"),
    [
        ("bool", "DEBUG", "yes", (False,), {}, True),
        ("bool", "DEBUG", "Off", (True,), {}, False),
        ("int", "CONN_MAX_AGE", "0", (60,), {"minimum": 0}, 0),
        ("int", "CONN_MAX_AGE", " 300 ", (60,), {"minimum": 0}, 300),
        ("time_zone", "TIME_ZONE", "Atlantic/Canary", ("Europe/Madrid",), {}, "Atlantic/Canary"),
        ("choice", "LOG_FORMAT", "json", ("text", ("text", "json")), {}, "json"),
        ("list", "ALLOWED_HOSTS", "crm.example.org, ,www.example.org", (), {},
         ["crm.example.org", "www.example.org"]),
        ("redis_url", "REDIS_URL", "rediss://:pw@redis.example.org:6380/2", ("redis://x",), {},
         "rediss://:pw@redis.example.org:6380/2"),
        ("redis_url", "REDIS_URL", "unix:///run/redis.sock?db=1", ("redis://x",), {},
         "unix:///run/redis.sock?db=1"),
    ],
)  # fmt: skip
def test_a_good_value_is_read(method, name, value, args, kwargs, expected):
    assert read(method, name, value, *args, **kwargs) == expected


def test_an_unset_or_empty_variable_gives_the_default():
    env = Env({"DEBUG": "  "})
    assert env.bool("DEBUG", default=True) is True
    assert env.int("CONN_MAX_AGE", 60) == 60
    assert env.time_zone("TIME_ZONE", "Europe/Madrid") == "Europe/Madrid"
    with pytest.raises(ImproperlyConfigured, match=r"^SECRET_KEY must be set"):
        env.str("SECRET_KEY")


def test_database_urls_over_tcp_and_unix_sockets():
    tcp = read("database", "DATABASE_URL", "postgres://crm:s%40cret@db.example.org:6432/crm", {})
    assert tcp | {"ENGINE": "-"} == {
        "ENGINE": "-",
        "NAME": "crm",
        "USER": "crm",
        "PASSWORD": "s@cret",
        "HOST": "db.example.org",
        "PORT": 6432,
    }
    assert tcp["ENGINE"] == "django.db.backends.postgresql"
    local = read("database", "DATABASE_URL", "postgres://crm@//var/run/postgresql/crm", {})
    assert (local["HOST"], local["NAME"], local["USER"]) == ("/var/run/postgresql", "crm", "crm")


# --- The settings module, imported as a process starts -----------------------------------------


def django_setup(env: dict[str, str], code: str = "") -> subprocess.CompletedProcess:
    """Start Python with only ``env`` (plus what it needs to run) and set Django up."""
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={**base, "DJANGO_SETTINGS_MODULE": "crm.settings", **env},
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def settings_value(env: dict[str, str], expression: str):
    result = django_setup(
        env, f"from django.conf import settings; import json; print(json.dumps({expression}))"
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG must be one of"),
        ("CONN_MAX_AGE", "-1", "CONN_MAX_AGE must be at least 0, got -1."),
        ("TIME_ZONE", "Mars/Base", "TIME_ZONE must be an IANA time zone"),
        ("EMAIL_URL", "smpt://x", "EMAIL_URL must be an email URL"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of ['text', 'json'], got 'xml'."),
    ],
)
def test_a_bad_value_stops_the_process_with_a_clear_message(variable, value, message):
    result = django_setup({variable: value})
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {message}" in result.stderr


def test_the_same_process_starts_without_the_bad_value():
    # The counterpart of the test above: the failures come from the values, not the harness.
    result = django_setup({}, "from django.conf import settings; print(settings.DEBUG)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"  # the embedded default


def test_a_deployment_without_secret_key_does_not_start():
    result = django_setup({k: v for k, v in DEPLOYMENT.items() if k != "SECRET_KEY"})
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set." in result.stderr


def test_a_deployment_is_not_debug_and_keeps_its_database_options():
    env = {**DEPLOYMENT, "DATABASE_URL": DEPLOYMENT["DATABASE_URL"] + "?sslmode=require"}
    debug, database = settings_value(env, "[settings.DEBUG, settings.DATABASES['default']]")
    assert debug is False
    assert database["HOST"] == "db.example.org"
    assert database["OPTIONS"] == {"sslmode": "require", "connect_timeout": 5}


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("smtp://mail.example.org", {"host": "mail.example.org", "port": 25,
                                     "use_tls": False, "use_ssl": False}),
        ("smtp+tls://crm%40example.org:p%40ss@mail.example.org",
         {"host": "mail.example.org", "port": 587, "use_tls": True, "use_ssl": False,
          "username": "crm@example.org", "password": "p@ss"}),
        ("smtp+tls://mail.example.org:2525", {"port": 2525, "use_tls": True, "use_ssl": False}),
        ("smtps://crm:secret@mail.example.org", {"host": "mail.example.org", "port": 465,
                                                 "use_tls": False, "use_ssl": True,
                                                 "username": "crm", "password": "secret"}),
        ("smtp+ssl://mail.example.org:1465", {"port": 1465, "use_tls": False, "use_ssl": True}),
    ],
)  # fmt: skip
def test_email_url_is_mapped_to_the_smtp_mailer(url, options):
    mailers = settings_value({**DEPLOYMENT, "EMAIL_URL": url}, "settings.MAILERS")
    assert mailers["default"]["BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert mailers["default"]["OPTIONS"] | options == mailers["default"]["OPTIONS"]


def test_email_url_can_choose_another_backend():
    mailers = settings_value({"EMAIL_URL": "consolemail://"}, "settings.MAILERS")
    assert mailers == {
        "default": {"BACKEND": "django.core.mail.backends.console.EmailBackend", "OPTIONS": {}}
    }
