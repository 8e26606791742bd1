"""/health/ tells load balancers and operators whether the CRM and its services are up.

Anonymous (no login), fast even when a service is down, and it names the failing check. The worker
check pings through the broker the workers of this installation's queue only (the control exchange
is named after the queue), so "down" is deterministic here: the session's worker consumes a queue
of its own, and ``no_celery_worker`` stops it, whatever else runs on the same Redis.
"""

import time

import pytest
from django.db import connections
from django.urls import resolve

# The checks time out after 1 s; the margin is for a busy CI machine, not for slow checks.
MAX_SECONDS = 4


def get_health(client):
    resolve("/health/")  # imports every app's URLs and views: a first request's cost, not ours
    started = time.perf_counter()
    response = client.get("/health/")
    elapsed = time.perf_counter() - started
    assert elapsed < MAX_SECONDS, f"/health/ took {elapsed:.2f} s"
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response, response.json()


def statuses(body) -> dict[str, str]:
    return {name: check["status"] for name, check in body["checks"].items()}


@pytest.mark.services
@pytest.mark.django_db
def test_healthy_with_database_broker_and_worker_up(client, celery_worker):
    response, body = get_health(client)
    assert response.status_code == 200, body
    assert body["status"] == "up"
    assert statuses(body) == {"database": "up", "broker": "up", "worker": "up"}
    assert celery_worker.hostname in body["checks"]["worker"]["detail"]


@pytest.mark.services
@pytest.mark.django_db
def test_unhealthy_when_no_worker_consumes_the_queue(client, no_celery_worker):
    response, body = get_health(client)
    assert response.status_code == 503
    assert body["status"] == "down"
    assert statuses(body) == {"database": "up", "broker": "up", "worker": "down"}
    assert body["checks"]["worker"]["detail"] == "RuntimeError"


@pytest.mark.django_db
def test_unhealthy_when_the_broker_is_down(client, settings, tmp_path):
    settings.REDIS_URL = f"unix://{tmp_path / 'redis.sock'}?db=0"  # nothing listens there
    response, body = get_health(client)
    assert response.status_code == 503
    assert statuses(body) == {"database": "up", "broker": "down", "worker": "down"}
    assert body["checks"]["broker"]["detail"] == "ConnectionError"
    assert body["checks"]["worker"]["detail"] == "broker down"


def test_unhealthy_when_the_database_is_down(client, django_db_blocker, tmp_path):
    # Outside a test transaction (no django_db mark), so the connection may be closed and opened.
    connection = connections["default"]
    with django_db_blocker.unblock():
        _response, body = get_health(client)
        assert body["checks"]["database"]["status"] == "up"
        host = connection.settings_dict["HOST"]
        connection.close()
        connection.settings_dict["HOST"] = str(tmp_path)  # no PostgreSQL socket in there
        try:
            response, body = get_health(client)
        finally:
            connection.close()
            connection.settings_dict["HOST"] = host
        assert response.status_code == 503
        assert body["status"] == "down"
        assert body["checks"]["database"] == {
            "status": "down",
            "ms": body["checks"]["database"]["ms"],
            "detail": "OperationalError",
        }
        assert body["checks"]["broker"]["status"] == "up"
        # and the next request reconnects to the real server
        _response, body = get_health(client)
        assert body["checks"]["database"]["status"] == "up"
