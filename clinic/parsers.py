"""The API's JSON parser: DRF's, hardened against bodies built to hurt.

Two kinds of hostile JSON got past DRF's parser, which only turns ValueError into a 400:
absurdly nested documents (`[[[[...]]]]`), on which the json module raises RecursionError,
and strings holding NUL (\\u0000), which PostgreSQL cannot store and answers with an error.
Both are now a ParseError: HTTP 400 with the usual {"detail": ...} body, for every view.
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError

# Far deeper than any body the API takes (a Calls track list is 4 levels), far shallower than
# what would make code that walks the data recursively (serializers, json.dumps) run out of
# stack. A fixed bound also makes the answer independent of how deep the parsing thread's
# stack already was.
MAX_JSON_DEPTH = 32

NUL = "\x00"

TOO_DEEP = f"JSON parse error - the body nests deeper than {MAX_JSON_DEPTH} levels."
HAS_NUL = "Text may not contain NUL characters (\\u0000)."


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        reject_unstorable_json(data)
        return data


def reject_unstorable_json(data) -> None:
    """ParseError if `data` (parsed JSON) nests too deep or holds a NUL in any key or string.

    A loop over an explicit stack, not recursion, so no nesting can exhaust Python's stack."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if NUL in value:
                raise ParseError(HAS_NUL)
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ParseError(TOO_DEEP)
            if isinstance(value, dict):
                if any(NUL in key for key in value):
                    raise ParseError(HAS_NUL)
                value = value.values()
            pending.extend((item, depth + 1) for item in value)
