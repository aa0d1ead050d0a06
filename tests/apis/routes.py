"""The API's routes as Django's URL resolver knows them, for tests that must cover them all."""

import re

from django.urls import URLPattern, URLResolver, get_resolver

# Handlers Django and DRF answer by themselves for every view; not endpoints of their own.
IMPLICIT_METHODS = {"options", "head"}
# A plain function view takes any method; these are the ones worth a row.
FUNCTION_VIEW_METHODS = ("GET", "POST")


def _route_text(pattern) -> str:
    """`appointments/<int:appointment_id>/` -> `appointments/{appointment_id}/` (as OpenAPI)."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))


def _methods(pattern: URLPattern) -> tuple[str, ...]:
    view_class = getattr(pattern.callback, "cls", None) or getattr(
        pattern.callback, "view_class", None
    )
    if view_class is None:
        return FUNCTION_VIEW_METHODS
    return tuple(
        method.upper()
        for method in view_class.http_method_names
        if method not in IMPLICIT_METHODS and hasattr(view_class, method)
    )


def _walk(patterns, prefix: str):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + _route_text(pattern))
        else:
            route = prefix + _route_text(pattern)
            for method in _methods(pattern):
                yield method, route


def api_routes() -> set[tuple[str, str]]:
    """Every (method, "/api/...") the project serves, path parameters written `{name}`."""
    return {
        (method, route)
        for method, route in _walk(get_resolver().url_patterns, "/")
        if route.startswith("/api/")
    }
