"""Shared fixtures. Real services: PostgreSQL and Redis are started by `make test`
(crm.embedded); a Celery worker, an SMTP server and Chromium are started by fixtures."""

import os

import pytest

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# around it are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytest_plugins = ["tests.fixtures.services", "tests.fixtures.browser"]


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="staff", password="staff-password", first_name="Laura", last_name="Vidal Soler"
    )


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client
