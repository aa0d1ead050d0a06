"""Receivers that keep a rule whichever path saves a model (admin, API, shell, commands)."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save, pre_delete, pre_save
from django.dispatch import receiver

from clinic.exception_handler import access_refused
from visits.models import AccessLogEntry, User
from visits.services import user_credentials_changed, user_sign_out_everywhere
from visits.services.access_log import record_request_security_event

Event = AccessLogEntry.Event

CREDENTIAL_FIELDS = {"password", "is_active"}


@receiver(pre_save, sender=User, dispatch_uid="visits.user_credentials_check")
def _user_credentials_check(sender, instance: User, update_fields=None, raw=False, **kwargs):
    # Compared with the stored row here, acted on after the save: most saves (the last_login
    # of every sign-in) name their fields and touch neither, and cost no query.
    instance._credentials_changed = False
    if raw or instance._state.adding or (update_fields and not CREDENTIAL_FIELDS & update_fields):
        return
    stored = User.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if stored is not None:
        instance._credentials_changed = user_credentials_changed(
            stored_password=stored["password"], stored_active=stored["is_active"], user=instance
        )


@receiver(post_save, sender=User, dispatch_uid="visits.user_credentials_changed")
def _user_credentials_changed(sender, instance: User, **kwargs):
    if getattr(instance, "_credentials_changed", False):
        instance._credentials_changed = False
        user_sign_out_everywhere(user_id=instance.pk)


@receiver(pre_delete, sender=User, dispatch_uid="visits.user_deleted")
def _user_deleted(sender, instance: User, **kwargs):
    # Before the delete: it detaches the user's outstanding tokens from them.
    user_sign_out_everywhere(user_id=instance.pk)


# The security events of the access log, whichever surface signs in (portal, admin, API token).


@receiver(user_logged_in, dispatch_uid="visits.audit_signed_in")
def _audit_signed_in(sender, request, user, **kwargs):
    record_request_security_event(event=Event.SIGNED_IN, request=request, user=user)


@receiver(user_logged_out, dispatch_uid="visits.audit_signed_out")
def _audit_signed_out(sender, request, user, **kwargs):
    if user is not None:  # signing out while signed out is nothing to log
        record_request_security_event(event=Event.SIGNED_OUT, request=request, user=user)


@receiver(user_login_failed, dispatch_uid="visits.audit_sign_in_failed")
def _audit_sign_in_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get(User.USERNAME_FIELD, ""))[:150]
    record_request_security_event(event=Event.SIGN_IN_FAILED, request=request, username=username)


@receiver(user_locked_out, dispatch_uid="visits.audit_locked_out")
def _audit_locked_out(sender, request, username, ip_address, **kwargs):
    record_request_security_event(
        event=Event.LOCKED_OUT, request=request, username=str(username or "")[:150]
    )


@receiver(access_refused, dispatch_uid="visits.audit_refused")
def _audit_refused(sender, request, error, **kwargs):
    record_request_security_event(
        event=Event.REFUSED,
        request=request,
        user=request.user,
        record=f"{request.method} {request.path}",
    )
