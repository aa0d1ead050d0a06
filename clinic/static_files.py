"""Production serves static files from collectstatic's output: make its absence a clear error.

With DEBUG off, WhiteNoise's manifest storage renders every `{% static %}` through the manifest
that `collectstatic` writes; without it every page is a 500. `check --deploy` reports it, and the
ASGI application refuses to start, both naming the step that was skipped.
"""

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

MISSING = (
    "Static files are not collected: {manifest} is missing. Run `python manage.py collectstatic "
    "--noinput` (the Dockerfile does it at build time) before starting the server."
)


def missing_manifest() -> str | None:
    """The manifest path when the storage needs one that is not there, else None."""
    if not isinstance(staticfiles_storage, ManifestFilesMixin):
        return None
    manifest = staticfiles_storage.path(staticfiles_storage.manifest_name)
    return None if staticfiles_storage.exists(staticfiles_storage.manifest_name) else manifest


@checks.register(checks.Tags.staticfiles, deploy=True)
def static_files_collected(app_configs, **kwargs) -> list[checks.CheckMessage]:
    manifest = missing_manifest()
    if manifest is None:
        return []
    return [checks.Error(MISSING.format(manifest=manifest), id="clinic.E001")]


def require_collected_static_files() -> None:
    """Called at server start-up: refuse to serve pages that can only fail."""
    manifest = None if settings.DEBUG else missing_manifest()
    if manifest is not None:
        raise ImproperlyConfigured(MISSING.format(manifest=manifest))
