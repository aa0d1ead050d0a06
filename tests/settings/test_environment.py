"""Settings come from the environment; bad values stop start-up naming the variable.

Each case imports the settings in a fresh interpreter with exactly the environment given,
because settings are read once per process.
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "clinic.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://clinic.example.org",
}
SHOW = (
    "import json, django; from django.conf import settings; django.setup(); print(json.dumps({"
    "'engine': settings.DATABASES['default']['ENGINE'],"
    "'db_name': settings.DATABASES['default']['NAME'],"
    "'layer': settings.CHANNEL_LAYERS['default']['BACKEND'],"
    "'cache': settings.CACHES['default']['BACKEND'],"
    "'calls_api_url': settings.CALLS_API_URL,"
    "'bitrate': settings.MAX_WEBCAM_BITRATE, 'framerate': settings.MAX_WEBCAM_FRAMERATE,"
    "'quality': settings.MAX_WEBCAM_QUALITY_LEVEL, 'debug': settings.DEBUG,"
    "'hosts': settings.ALLOWED_HOSTS, 'origins': settings.CSRF_TRUSTED_ORIGINS}))"
)


def run_python(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(Path.home()),
        "DJANGO_SETTINGS_MODULE": "clinic.settings",
        **env,
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def settings_with(env: dict[str, str]) -> dict:
    result = run_python(env, "-c", SHOW)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_embedded_defaults_when_nothing_is_set():
    shown = settings_with({"DEBUG": "true"})
    assert shown["engine"] == "django.db.backends.sqlite3"
    assert shown["layer"] == "channels.layers.InMemoryChannelLayer"
    assert shown["calls_api_url"] == "https://rtc.live.cloudflare.com/v1"
    assert (shown["bitrate"], shown["framerate"], shown["quality"]) == (1200000, 24, 1080)
    assert shown["debug"] is True


def test_production_services_come_from_urls():
    shown = settings_with(
        {
            **PRODUCTION,
            "DATABASE_URL": "postgres://clinic:pw@db.internal:5432/clinic_meet",
            "REDIS_URL": "redis://cache.internal:6379/0",
            "CALLS_API_URL": "http://127.0.0.1:8787/v1/",
            "MAX_WEBCAM_BITRATE": "800000",
            "ALLOWED_HOSTS": "clinic.example.org, meet.example.org",
        }
    )
    assert shown["engine"] == "django.db.backends.postgresql"
    assert shown["db_name"] == "clinic_meet"
    assert shown["layer"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert shown["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert shown["calls_api_url"] == "http://127.0.0.1:8787/v1"
    assert shown["bitrate"] == 800000
    assert shown["hosts"] == ["clinic.example.org", "meet.example.org"]


def test_the_core_channel_layer_is_a_choice_and_an_unknown_one_stops_start_up():
    redis = {**PRODUCTION, "REDIS_URL": "redis://cache.internal:6379/0"}
    shown = settings_with({**redis, "CHANNEL_LAYER": "core"})
    assert shown["layer"] == "channels_redis.core.RedisChannelLayer"
    result = run_python(
        {**redis, "CHANNEL_LAYER": "rabbitmq"}, "-c", "import django; django.setup()"
    )
    assert result.returncode != 0
    assert "CHANNEL_LAYER must be one of pubsub, core, got 'rabbitmq'" in result.stderr


def test_cache_channel_layer_and_room_state_keep_their_keys_apart_in_one_redis():
    show = (
        "import json, django; from django.conf import settings; django.setup(); print(json.dumps(["
        "settings.CACHES['default']['KEY_PREFIX'],"
        "settings.CHANNEL_LAYERS['default']['CONFIG']['prefix'],"
        "settings.ROOM_STATE_KEY_PREFIX]))"
    )
    result = run_python({**PRODUCTION, "REDIS_URL": "redis://cache.internal:6379/0"}, "-c", show)
    assert result.returncode == 0, result.stderr
    cache, layer, room_state = json.loads(result.stdout)
    prefixes = [cache.rstrip(":") + ":", layer.rstrip(":") + ":", room_state]
    # No prefix may be the start of another: their keys could then collide.
    for one in prefixes:
        for other in prefixes:
            assert one is other or not other.startswith(one), (one, other)


@pytest.mark.parametrize(
    ("env", "variable", "explanation"),
    [
        ({"MAX_WEBCAM_BITRATE": "fast"}, "MAX_WEBCAM_BITRATE", "whole number"),
        ({"MAX_WEBCAM_FRAMERATE": "0"}, "MAX_WEBCAM_FRAMERATE", "at least 1"),
        ({"MAX_WEBCAM_QUALITY_LEVEL": "1080p"}, "MAX_WEBCAM_QUALITY_LEVEL", "whole number"),
        ({"DATABASE_URL": "mysql://db/clinic"}, "DATABASE_URL", "schemes"),
        ({"DATABASE_URL": "postgres://db:notaport/clinic"}, "DATABASE_URL", "not a valid URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL", "schemes"),
        ({"CALLS_API_URL": "rtc.live.cloudflare.com/v1"}, "CALLS_API_URL", "schemes"),
        ({"CALLS_API_URL": "https://"}, "CALLS_API_URL", "host"),
        ({"DEBUG": "maybe"}, "DEBUG", "true or false"),
        ({"CSRF_TRUSTED_ORIGINS": "clinic.example.org"}, "CSRF_TRUSTED_ORIGINS", "https://"),
        ({"CALLS_APP_ID": "abc"}, "CALLS_APP_SECRET", "go together"),
        ({"SESSION_IDLE_MINUTES": "a quarter"}, "SESSION_IDLE_MINUTES", "must be a number"),
        ({"SESSION_IDLE_MINUTES": "0"}, "SESSION_IDLE_MINUTES", "at least 0.1"),
    ],
)
def test_invalid_values_stop_start_up_naming_the_variable(env, variable, explanation):
    result = run_python({**PRODUCTION, **env}, "manage.py", "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr and explanation in result.stderr


def test_refuses_to_start_with_debug_off_without_a_secret_key():
    env = {key: value for key, value in PRODUCTION.items() if key != "SECRET_KEY"}
    result = run_python(env, "manage.py", "check")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


SHOW_KEY = (
    "import django; from django.conf import settings; django.setup(); print(settings.SECRET_KEY)"
)


def development_key(key_file: Path) -> str:
    result = run_python({"DEBUG": "true", "SECRET_KEY_FILE": str(key_file)}, "-c", SHOW_KEY)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_debug_without_a_secret_key_uses_a_random_key_kept_per_checkout(tmp_path):
    # A key written in the repository would let anyone who reaches a `make run` server forge
    # sessions and JWTs: each checkout makes its own, once, readable by its owner only.
    checkout_a, checkout_b = tmp_path / "a" / "secret_key", tmp_path / "b" / "secret_key"
    first = development_key(checkout_a)
    assert len(first) >= 50
    assert first not in (REPO / "clinic" / "settings.py").read_text()
    assert development_key(checkout_a) == first, "the key changed between two starts"
    assert checkout_a.stat().st_mode & 0o777 == 0o600
    assert development_key(checkout_b) != first, "two checkouts share a key"


def test_the_checkout_key_file_is_not_committed():
    ignored = subprocess.run(["git", "check-ignore", "-q", "var/secret_key"], cwd=REPO, check=False)
    assert ignored.returncode == 0, "var/secret_key would be committed"


@pytest.fixture(scope="module")
def collected_static(tmp_path_factory) -> dict[str, str]:
    """A production environment whose STATIC_ROOT holds collectstatic's output."""
    env = {**PRODUCTION, "STATIC_ROOT": str(tmp_path_factory.mktemp("static"))}
    result = run_python(env, "manage.py", "collectstatic", "--noinput")
    assert result.returncode == 0, result.stderr
    return env


def test_check_deploy_is_clean_for_the_production_configuration(collected_static):
    result = run_python(
        collected_static, "manage.py", "check", "--deploy", "--fail-level", "WARNING"
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_reports_static_files_not_collected(tmp_path):
    # Without collectstatic every page is a 500 under DEBUG off (the manifest storage).
    env = {**PRODUCTION, "STATIC_ROOT": str(tmp_path / "never-collected")}
    result = run_python(env, "manage.py", "check", "--deploy")
    assert result.returncode != 0
    assert "clinic.E001" in result.stderr and "collectstatic" in result.stderr


def test_the_server_refuses_to_start_without_collected_static_files(tmp_path, collected_static):
    load_application = "import clinic.asgi"
    env = {**PRODUCTION, "STATIC_ROOT": str(tmp_path / "never-collected")}
    refused = run_python(env, "-c", load_application)
    assert refused.returncode != 0
    assert "ImproperlyConfigured" in refused.stderr
    assert "python manage.py collectstatic --noinput" in refused.stderr
    started = run_python(collected_static, "-c", load_application)
    assert started.returncode == 0, started.stderr


def test_check_deploy_would_flag_a_weakened_configuration():
    weakened = {**PRODUCTION, "SECURE_SSL_REDIRECT": "false", "SESSION_COOKIE_SECURE": "false"}
    result = run_python(weakened, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "security.W008" in result.stderr and "security.W012" in result.stderr
