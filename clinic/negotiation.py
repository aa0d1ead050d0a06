"""Content negotiation for API views whose answers are not all DRF-rendered JSON (a recording's
media, a transcript's text and WebVTT exports): their errors are JSON whatever the Accept
header or a `format` query parameter asks for, and what they return themselves bypasses DRF's
renderers altogether."""

from rest_framework.negotiation import BaseContentNegotiation


class JSONWhateverAccepted(BaseContentNegotiation):
    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
