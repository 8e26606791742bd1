"""Audit events the auth layer writes by itself: logins, failures, lockouts, logouts, and changes
of roles, units and privileges however they are made (admin, directory, command)."""

from __future__ import annotations

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver

from crm.audit import log_event
from crm.models import AuditAction, Membership, Unit, forget_unit_tree

User = get_user_model()
PRIVILEGE_FLAGS = ("is_active", "is_staff", "is_superuser")


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs):
    backend = getattr(user, "backend", "") or ""
    log_event(
        actor=user,
        action=AuditAction.LOGIN,
        obj=user,
        changes={"source": "directory" if "directory" in backend.lower() else "local"},
        request=request,
    )


@receiver(user_logged_out)
def audit_logout(sender, request, user, **kwargs):
    if user is not None:
        log_event(actor=user, action=AuditAction.LOGOUT, obj=user, request=request)


@receiver(user_login_failed)
def audit_login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    log_event(
        action=AuditAction.LOGIN_FAILED,
        object_type="crm.user",
        changes={"username": username},
        request=request,
    )


@receiver(user_locked_out)
def audit_locked_out(sender, request, username, ip_address, **kwargs):
    log_event(
        action=AuditAction.LOCKED_OUT,
        object_type="crm.user",
        changes={"username": str(username or "")[:150], "ip": ip_address},
        request=request,
    )


@receiver(m2m_changed, sender=User.groups.through)
def audit_role_change(sender, instance, action, reverse, pk_set, **kwargs):
    if action not in ("post_add", "post_remove") or not pk_set:
        return
    audit_action = AuditAction.ROLE_GRANTED if action == "post_add" else AuditAction.ROLE_REVOKED
    if reverse:  # group.user_set.add(users...)
        pairs = [(user_id, instance.name) for user_id in sorted(pk_set)]
    else:  # user.groups.add(groups...)
        names = Group.objects.filter(pk__in=pk_set).values_list("name", flat=True)
        pairs = [(instance.pk, name) for name in sorted(names)]
    for user_id, role in pairs:
        log_event(
            action=audit_action, object_type="crm.user", object_id=user_id, changes={"role": role}
        )
    if not reverse:
        instance.__dict__.pop("_crm_role_codes", None)


@receiver(post_save, sender=Membership)
def audit_membership_saved(sender, instance, created, **kwargs):
    log_event(
        action=AuditAction.UNIT_ADDED if created else AuditAction.UPDATE,
        object_type="crm.user",
        object_id=instance.user_id,
        changes={"unit": instance.unit.code, "head": instance.is_head},
    )


@receiver(post_delete, sender=Membership)
def audit_membership_deleted(sender, instance, **kwargs):
    log_event(
        action=AuditAction.UNIT_REMOVED,
        object_type="crm.user",
        object_id=instance.user_id,
        changes={"unit_id": instance.unit_id},
    )


@receiver(pre_save, sender=User)
def remember_privileges(sender, instance, **kwargs):
    if instance.pk:
        instance._crm_old_flags = (
            User.objects.filter(pk=instance.pk).values(*PRIVILEGE_FLAGS).first() or {}
        )


@receiver(post_save, sender=User)
def audit_privileges(sender, instance, created, **kwargs):
    old = getattr(instance, "_crm_old_flags", None)
    if created or not old:
        return
    changes = {
        flag: {"old": old[flag], "new": getattr(instance, flag)}
        for flag in PRIVILEGE_FLAGS
        if old.get(flag) != getattr(instance, flag)
    }
    if changes:
        log_event(action=AuditAction.PRIVILEGE_CHANGED, obj=instance, changes=changes)


@receiver([post_save, post_delete], sender=Unit)
def unit_tree_changed(sender, **kwargs):
    forget_unit_tree()
