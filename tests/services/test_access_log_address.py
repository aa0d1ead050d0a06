"""The address an access log entry names: the one the lockout and the throttles see, for an
HTTP request and a WebSocket's scope alike (NUM_PROXIES trusted proxies, forged ones ignored)."""

import pytest

from visits.services import scope_address


def _scope(peer, *forwarded):
    return {"client": peer, "headers": [(b"x-forwarded-for", value) for value in forwarded]}


@pytest.mark.parametrize(
    ("proxies", "scope", "address"),
    [
        (0, _scope(("10.0.0.1", 1), b"192.0.2.5"), "10.0.0.1"),
        (1, _scope(("10.0.0.1", 1), b"192.0.2.5"), "192.0.2.5"),
        (1, _scope(("10.0.0.1", 1), b"198.51.100.1, 192.0.2.5"), "192.0.2.5"),
        (1, _scope(("10.0.0.1", 1), b"not-an-ip"), "10.0.0.1"),
        (1, _scope(("10.0.0.1", 1)), "10.0.0.1"),
        (0, {"client": None, "headers": []}, ""),
    ],
)
def test_a_sockets_address(settings, proxies, scope, address):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": proxies}
    assert scope_address(scope) == address
