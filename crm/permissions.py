"""Who may use which module. Visibility of records inside a module is decided by the
QuerySets' ``for_user`` (units); this decides the module itself: absent from the navigation
and 403 on its URLs when the user holds none of the module's permissions."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from crm.modules import Module


def can_use_module(user, module: Module) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return any(user.has_perm(permission) for permission in module.permissions)


def module_for(label: str) -> Module:
    return apps.get_app_config(label).crm_module


def module_required(label: str) -> Callable:
    """Views of a module: anonymous users go to the login page, others need the module."""

    def decorator(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not can_use_module(request.user, module_for(label)):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def permission_required(permission: str) -> Callable:
    """A single permission, with the same login/403 behaviour as module_required."""

    def decorator(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.has_perm(permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
