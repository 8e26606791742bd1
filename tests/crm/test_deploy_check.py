"""A production configuration passes Django's deployment checks; a careless one does not."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent.parent

PRODUCTION = {
    "DATABASE_URL": "postgres://crm:secret@db.example.org:5432/crm",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "crm.example.org",
    "EMAIL_URL": "smtp://mail.example.org:587",
    "REDIS_URL": "redis://redis.example.org:6379/0",
}


def check_deploy(**overrides: str) -> subprocess.CompletedProcess:
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={**base, "DJANGO_SETTINGS_MODULE": "crm.settings", **PRODUCTION, **overrides},
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_the_deployment_checks():
    result = check_deploy()
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "issues"),
    [
        ({"DEBUG": "true"}, ["security.W018"]),
        ({"HTTPS": "false"}, ["security.W004", "security.W008", "security.W012", "security.W016"]),
        ({"SECRET_KEY": "too-short"}, ["security.W009"]),
    ],
)
def test_a_careless_production_fails_the_deployment_checks(overrides, issues):
    result = check_deploy(**overrides)
    assert result.returncode != 0
    for issue in issues:
        assert issue in result.stderr
