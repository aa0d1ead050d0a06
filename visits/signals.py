"""Receivers that keep a rule whichever path saves a model (admin, API, shell, commands)."""

from django.db.models.signals import post_save, pre_delete, pre_save
from django.dispatch import receiver

from visits.models import User
from visits.services import user_credentials_changed, user_sign_out_everywhere

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
