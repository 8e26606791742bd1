import pytest


@pytest.mark.django_db
def test_home_asks_anonymous_users_to_log_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_home_shows_my_work_to_staff(staff_client):
    response = staff_client.get("/")
    assert response.status_code == 200
    assert "Laura Vidal Soler" in response.text
