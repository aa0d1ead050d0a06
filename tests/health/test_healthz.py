import pytest

import clinic.health

pytestmark = pytest.mark.django_db


def test_healthy_when_database_and_channel_layer_answer(client, settings):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["database"]["vendor"] == __import__("django.db").db.connection.vendor
    assert body["channel_layer"]["status"] == "ok"
    expected_layer = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[1]
    assert body["channel_layer"]["backend"] == expected_layer
    assert response["Cache-Control"].startswith("max-age=0")


def test_503_when_the_database_is_down(client, monkeypatch):
    def broken():
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(clinic.health, "_check_database", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == {"status": "down", "error": "ConnectionError: database unreachable"}
    assert body["channel_layer"]["status"] == "ok"


def test_503_when_the_channel_layer_is_down(client, settings):
    # Port 9 (discard) has no Redis behind it on this machine.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:9/0"]},
        }
    }
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["channel_layer"]["status"] == "down"
    assert body["database"]["status"] == "ok"


def test_only_get_is_allowed(client):
    assert client.post("/healthz").status_code == 405
