from django.apps import AppConfig


class ClinicConfig(AppConfig):
    """The project's own checks (the project has no models)."""

    name = "clinic"

    def ready(self) -> None:
        from clinic import static_files  # noqa: F401  (registers its system check)
