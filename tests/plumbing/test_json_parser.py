"""clinic.parsers.JSONParser: DRF's parser, with absurd nesting and NUL characters refused."""

import io
import json

import pytest
from rest_framework.exceptions import ParseError

from clinic.parsers import HAS_NUL, MAX_JSON_DEPTH, TOO_DEEP, JSONParser, reject_unstorable_json


def _parse(text: str):
    return JSONParser().parse(io.BytesIO(text.encode()), "application/json")


def _nested_list(depth: int, innermost=None):
    value = [] if innermost is None else [innermost]
    for _ in range(depth - 1):
        value = [value]
    return value


def test_ordinary_bodies_parse_as_before():
    body = {"tracks": [{"location": "local", "mid": "0", "simulcast": {"preferredRid": "h"}}]}
    assert _parse(json.dumps(body)) == body
    assert _parse('"\\u00e9 and a tab\\t"') == "\u00e9 and a tab\t"


@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000, 1_000_000])
def test_nesting_the_json_module_cannot_parse_is_a_parse_error(depth):
    for opener, closer in (("[", "]"), ('{"a":', "}")):
        with pytest.raises(ParseError) as refused:
            _parse(opener * depth + "1" + closer * depth)
        assert refused.value.detail == TOO_DEEP


def test_nesting_is_allowed_up_to_the_limit_and_refused_one_past_it():
    assert _parse(json.dumps(_nested_list(MAX_JSON_DEPTH))) == _nested_list(MAX_JSON_DEPTH)
    with pytest.raises(ParseError, match="nests deeper"):
        _parse(json.dumps(_nested_list(MAX_JSON_DEPTH + 1)))


@pytest.mark.parametrize(
    "body",
    [
        '"\\u0000"',
        '{"reason": "knee\\u0000pain"}',
        '{"re\\u0000ason": "knee pain"}',
        '{"tracks": [{"mid": "0"}, {"trackName": "cam\\u0000"}]}',
        json.dumps(_nested_list(MAX_JSON_DEPTH, innermost="\x00")),
    ],
)
def test_a_nul_anywhere_is_a_parse_error(body):
    with pytest.raises(ParseError) as refused:
        _parse(body)
    assert refused.value.detail == HAS_NUL


def test_the_check_walks_without_recursion(monkeypatch):
    # Far deeper than Python's recursion limit, built in Python (json could not parse it): a
    # recursive walk would die here; the check must still find the NUL at the bottom.
    monkeypatch.setattr("clinic.parsers.MAX_JSON_DEPTH", 1_000_000)
    reject_unstorable_json(_nested_list(200_000, innermost="fine"))
    with pytest.raises(ParseError, match="NUL"):
        reject_unstorable_json(_nested_list(200_000, innermost={"k": "\x00"}))


def test_invalid_json_is_still_drfs_parse_error():
    with pytest.raises(ParseError, match="JSON parse error"):
        _parse('{"a": ')
