import pytest


@pytest.fixture(autouse=True)
def _test_settings(settings):
    # Tests run with DEBUG off, where production uses WhiteNoise's manifest storage; that needs
    # collectstatic first, which unit tests have no reason to run.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Password hashing is built to be slow; the suite creates many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
