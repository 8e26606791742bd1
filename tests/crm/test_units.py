"""Units form a tree; a user sees the records of their units and of every unit below them."""

import pytest

from crm.models import Unit, unit_ids_for_user


def test_for_user_covers_own_units_and_sub_units(make_user, units):
    user = make_user("case_handler", unit_codes=("urbanismo",))
    visible = set(Unit.objects.for_user(user).values_list("code", flat=True))
    assert visible == {"urbanismo", "licencias"}


def test_several_units_add_up(make_user, units):
    user = make_user("case_handler", unit_codes=("licencias", "servicios-sociales"))
    visible = set(Unit.objects.for_user(user).values_list("code", flat=True))
    assert visible == {"licencias", "servicios-sociales"}


def test_a_new_sub_unit_is_seen_at_once(make_user, units, django_user_model):
    user = make_user("case_handler", unit_codes=("urbanismo",))
    Unit.objects.create(code="obras", name="Obras", parent=units["licencias"])
    fresh = django_user_model.objects.get(pk=user.pk)  # a new request
    assert "obras" in set(Unit.objects.for_user(fresh).values_list("code", flat=True))


def test_a_user_without_units_sees_none(make_user):
    user = make_user("case_handler", unit_codes=())
    assert unit_ids_for_user(user) == frozenset()


@pytest.mark.django_db
def test_superusers_see_every_unit(units, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.org", "x")
    assert Unit.objects.for_user(root).count() == len(units)


def test_memberships_keep_the_order_they_were_given(make_user, units):
    from crm.models import Membership

    for codes in (("urbanismo", "servicios-sociales"), ("servicios-sociales", "urbanismo")):
        user = make_user("case_handler", unit_codes=codes, username="-".join(codes))
        given = list(Membership.objects.filter(user=user).order_by("id"))
        assert [m.unit.code for m in given] == list(codes)
