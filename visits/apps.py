from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


def _sync_clinic_staff_group(sender, **kwargs) -> None:
    from visits.services import clinic_staff_group_sync

    clinic_staff_group_sync()


class VisitsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "visits"
    verbose_name = "Clinic"

    def ready(self) -> None:
        # Permissions exist only once migrate has run, so the staff group is refreshed then.
        post_migrate.connect(_sync_clinic_staff_group, sender=self)
        from visits import idle_logoff, signals  # noqa: F401  (connects the receivers)
        from visits.services.access_log import sqlite_register_chain_hash

        # Before any connection opens: the access log's inserts hash in SQL (services.access_log).
        connection_created.connect(sqlite_register_chain_hash, dispatch_uid="visits.chain_hash")
