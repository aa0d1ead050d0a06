"""An API caller for the REST tests: the Django test client speaking JSON with a bearer token."""

from dataclasses import dataclass

import pytest
from django.test import Client

from tests.factories import bearer
from visits.models import User


@dataclass
class ApiCaller:
    client: Client
    user: User | None = None

    def as_user(self, user: User | None) -> "ApiCaller":
        """The same client, calling as `user` (None: anonymous)."""
        return ApiCaller(self.client, user)

    def get(self, path: str, params: dict | None = None, **extra):
        return self.client.get(path, params or {}, headers=bearer(self.user), **extra)

    def post(self, path: str, data: dict | None = None, **extra):
        return self.call("POST", path, data, **extra)

    def call(self, method: str, path: str, data: dict | bytes | None = None, **extra):
        """Any method; a body (JSON, or raw bytes as application/octet-stream) for all but
        GET."""
        if method == "GET":
            return self.get(path, data, **extra)
        send = getattr(self.client, method.lower())
        return send(
            path,
            data if data is not None else {},
            content_type="application/octet-stream"
            if isinstance(data, bytes)
            else "application/json",
            headers=bearer(self.user),
            **extra,
        )


@pytest.fixture
def api(client) -> ApiCaller:
    return ApiCaller(client)
