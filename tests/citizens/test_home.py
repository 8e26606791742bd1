import pytest

from citizens.services import person_create


@pytest.mark.django_db
def test_recently_viewed_people_are_the_users_own_latest_reads(client_for):
    client = client_for("citizen_service")
    people = [
        person_create(actor=None, given_name=f"Persona{n}", first_surname="Prueba")
        for n in range(7)
    ]
    for person in [*people, people[0]]:
        assert client.get(f"/citizens/people/{person.pk}/").status_code == 200
    home = client.get("/").text
    shown = [p for p in people if f"/citizens/people/{p.pk}/" in home]
    # The five latest distinct reads, newest first: 0 (read again), 6, 5, 4, 3.
    assert shown == [people[0], people[3], people[4], people[5], people[6]]
    assert home.index(f"/citizens/people/{people[0].pk}/") < home.index(
        f"/citizens/people/{people[6].pk}/"
    )
    # Another user's reads are theirs.
    assert "Persona0" not in client_for("citizen_service").get("/").text
