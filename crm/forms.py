"""Forms shared by every module: the login form."""

from __future__ import annotations

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


class LoginForm(AuthenticationForm):
    """Django's login form, saying so when the corporate directory could not be asked
    (``crm.directory`` marks the request) instead of blaming the password."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "directory_unavailable": _(
            "The corporate directory cannot be reached right now, so directory accounts cannot "
            "log in. Try again in a few minutes, or log in with a local account."
        ),
    }

    def get_invalid_login_error(self) -> ValidationError:
        if getattr(self.request, "directory_unavailable", False):
            return ValidationError(
                self.error_messages["directory_unavailable"], code="directory_unavailable"
            )
        return super().get_invalid_login_error()
