"""Typed readers for settings that come from environment variables.

Every reader names the variable in its error, so a bad deployment value stops start-up with a
message an operator can act on instead of a traceback deep inside Django.
"""

import base64
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str) -> str:
    value = _raw(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be true or false (1/0, yes/no, on/off), got {value!r}."
    )


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}.") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}.")
    return number


def env_decimal(name: str, default: float, *, minimum: float) -> float:
    """A number that may have a fractional part ("0.25"), at least `minimum`."""
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}.") from None
    if not number >= minimum or number == float("inf"):  # NaN fails the comparison
        raise ImproperlyConfigured(f"{name} must be a number of at least {minimum}, got {value!r}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None or value == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choices(name: str, default: list[str], *, choices: tuple[str, ...]) -> list[str]:
    """A comma-separated subset of `choices`. Unset gives `default`; set but empty gives none
    (how such a setting is turned off), which is why this is not env_list."""
    value = _raw(name)
    if value is None:
        return list(default)
    items = [item.strip() for item in value.split(",") if item.strip()]
    unknown = [item for item in items if item not in choices]
    if unknown:
        raise ImproperlyConfigured(
            f"{name} takes a comma-separated list of {', '.join(choices)} (or nothing), "
            f"got {', '.join(repr(item) for item in unknown)}."
        )
    return list(dict.fromkeys(items))


def env_url(name: str, default: str | None, *, schemes: set[str]) -> str | None:
    """A URL whose scheme is one of `schemes` and that names a host (or a path for sqlite)."""
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} is not a valid URL ({error}): {value!r}.") from None
    if parts.scheme not in schemes:
        allowed = ", ".join(sorted(schemes))
        raise ImproperlyConfigured(
            f"{name} must be a URL with one of the schemes {allowed}, got {value!r}."
        )
    if not parts.netloc and not (parts.scheme == "sqlite" and parts.path):
        raise ImproperlyConfigured(f"{name} must name a host, got {value!r}.")
    return value


def env_origins(name: str) -> list[str]:
    """CSRF_TRUSTED_ORIGINS-style list: every entry needs a scheme and a host."""
    origins = env_list(name, [])
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ImproperlyConfigured(
                f"{name} entries must look like https://clinic.example.org, got {origin!r}."
            )
    return origins


def checkout_secret_key(path: Path) -> str:
    """The development SECRET_KEY of this checkout (see _checkout_value)."""
    return _checkout_value(path, lambda: secrets.token_urlsafe(50))


def checkout_recordings_key(path: Path) -> str:
    """The development RECORDINGS_KEY of this checkout: 32 random bytes, URL-safe base64."""
    return _checkout_value(path, lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())


def _checkout_value(path: Path, make) -> str:
    """A development key of this checkout: read from `path`, made there (random, 0600) the
    first time. Written aside and linked into place, so two processes starting at once agree on
    one key and neither ever reads a half-written file."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(make() + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            draft.unlink()
    return path.read_text().strip()
