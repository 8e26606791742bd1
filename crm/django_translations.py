"""Strings of Django 6.1 that its own Spanish catalogue leaves untranslated.

Listing them here puts them in our catalogue (``makemessages`` reads this file), which takes
precedence over Django's: forms and the admin then speak Spanish throughout. Nothing imports
this module; remove an entry once Django translates it.
"""

from django.utils.translation import gettext_noop, ngettext_lazy

SINGULAR = (
    gettext_noop("- Select an option -"),
    gettext_noop("“%(value)s” is not a valid binary value."),
    gettext_noop("No %s matches the given query."),
    gettext_noop('The app "%s" could not be found.'),
    gettext_noop(", "),
    gettext_noop("Run"),
    gettext_noop("Filter by %(field_name)s"),
    gettext_noop(
        "Deleting the %(object_name)s “%(escaped_object)s” would require deleting the following protected related objects:"  # noqa: E501
    ),
    gettext_noop(
        "Are you sure you want to delete the %(object_name)s “%(escaped_object)s”? All of the following related items will be deleted:"  # noqa: E501
    ),
    gettext_noop("Pagination %(name)s entries"),
    gettext_noop("Pagination %(name)s"),
    gettext_noop("Search %(name)s"),
    gettext_noop("Logout"),
)

PLURAL = (
    ngettext_lazy(
        "Ensure this filename has at most %(max)d character (it has %(length)d).",
        "Ensure this filename has at most %(max)d characters (it has %(length)d).",
        "count",
    ),
    ngettext_lazy("…and %(count)d more object.", "…and %(count)d more objects.", "count"),
    ngettext_lazy(
        "This password is too short. It must contain at least %d character.",
        "This password is too short. It must contain at least %d characters.",
        "count",
    ),
)
