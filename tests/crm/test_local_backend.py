"""Directory accounts log in only through the directory, never with a local password."""

import pytest


@pytest.mark.django_db
@pytest.mark.parametrize(("from_directory", "status"), [(False, 302), (True, 200)])
def test_a_local_password_only_opens_local_accounts(
    from_directory, status, client, django_user_model
):
    user = django_user_model.objects.create_user(username="ana", password="a-local-password")
    user.from_directory = from_directory
    user.save()
    response = client.post("/accounts/login/", {"username": "ana", "password": "a-local-password"})
    assert response.status_code == status
