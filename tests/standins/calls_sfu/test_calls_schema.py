"""standins.calls_sfu.schema: the Calls bodies' shapes, and errors that name the schema and the
path."""

import jsonschema
import pytest

from standins.calls_sfu.schema import SCHEMAS, CallsSchemaError, validate

OFFER = {"type": "offer", "sdp": "v=0\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0\r\n"}

VALID = [
    ("NewSessionRequest", {}),
    ("NewSessionRequest", {"sessionDescription": OFFER}),
    ("NewSessionResponse", {"sessionId": "e017a2629c754fedc1f7d8587e06d126"}),
    ("NewSessionResponse", {"sessionId": "s", "sessionDescription": ANSWER}),
    ("TracksRequest", {"sessionDescription": OFFER,
                       "tracks": [{"location": "local", "mid": "4", "trackName": "cam"}]}),
    ("TracksRequest", {"tracks": [{"location": "remote", "sessionId": "s", "trackName": "t"}]}),
    ("TracksRequest", {"tracks": [{"location": "local", "trackName": "mic-1", "kind": "audio",
                                   "bidirectionalMediaStream": True}]}),
    ("TracksRequest", {"autoDiscover": True, "sessionDescription": OFFER}),
    ("TracksRequest", {"tracks": [{"location": "remote", "sessionId": "s", "trackName": "v",
                                   "simulcast": {"preferredRid": "h",
                                                 "priorityOrdering": "asciibetical",
                                                 "ridNotAvailable": "none"}}]}),
    ("TracksResponse", {"requiresImmediateRenegotiation": False, "sessionDescription": ANSWER,
                        "tracks": [{"trackName": "cam", "mid": "4"}]}),
    ("TracksResponse", {"requiresImmediateRenegotiation": True, "sessionDescription": OFFER,
                        "tracks": [{"sessionId": "s", "trackName": "t", "mid": "7"},
                                   {"sessionId": "s", "trackName": "x",
                                    "errorCode": "not_found_track_error",
                                    "errorDescription": "not found"}]}),
    ("RenegotiateRequest", {"sessionDescription": ANSWER}),
    ("RenegotiateResponse", {}),
    ("CloseTracksRequest", {"tracks": [{"mid": "7"}], "force": False,
                            "sessionDescription": OFFER}),
    ("CloseTracksRequest", {"tracks": [{"mid": "0"}, {"mid": "1"}], "force": True}),
    ("CloseTracksResponse", {"requiresImmediateRenegotiation": False,
                             "tracks": [{"mid": "0"},
                                        {"mid": "1", "errorCode": "close_track_error",
                                         "errorDescription": "already closed"}]}),
    ("UpdateTracksRequest", {"tracks": [{"location": "remote", "sessionId": "s",
                                         "trackName": "other", "mid": "7"}]}),
    ("UpdateTracksResponse", {"requiresImmediateRenegotiation": False,
                              "tracks": [{"mid": "7", "sessionId": "s", "trackName": "n"}]}),
    ("GetSessionStateResponse", {
        "tracks": [{"location": "local", "mid": "2", "trackName": "t", "status": "active"},
                   {"location": "remote", "mid": "7", "sessionId": "s", "trackName": "u",
                    "status": "inactive"}],
        "dataChannels": [{"location": "remote", "sessionId": "s", "dataChannelName": "controls",
                          "id": 2, "status": "initializing"}]}),
    ("ErrorResponse", {"errorCode": "unauthorized", "errorDescription": "no"}),
    ("TurnCredentialsRequest", {"ttl": 86400}),
    ("TurnCredentialsResponse", {"iceServers": [
        {"urls": ["stun:stun.example:3478"]},
        {"urls": ["turn:turn.example:3478?transport=udp"], "username": "u", "credential": "c"},
    ]}),
]  # fmt: skip

INVALID = [
    ("NewSessionResponse", {}, "$", "'sessionId' is a required property"),
    ("NewSessionRequest", {"sessionDescription": {"type": "pranswer"}},
     "$.sessionDescription.type", "is not one of"),
    ("TracksRequest", {"tracks": [{"location": "here"}]}, "$.tracks[0].location", "not one of"),
    ("TracksRequest", {"tracks": [{"kind": "screen"}]}, "$.tracks[0].kind", "not one of"),
    ("TracksRequest", {"tracks": [{"simulcast": {"priorityOrdering": "z-a"}}]},
     "$.tracks[0].simulcast.priorityOrdering", "not one of"),
    ("TracksRequest", {"autoDiscover": "yes"}, "$.autoDiscover", "not of type 'boolean'"),
    ("TracksResponse", {"tracks": [{"mid": 4}]}, "$.tracks[0].mid", "not of type 'string'"),
    ("TracksResponse", {"tracks": [{"errorCode": 1}]}, "$.tracks[0].errorCode", "not of type"),
    ("CloseTracksRequest", {"tracks": [{"mid": "0"}]}, "$", "'force' is a required property"),
    ("CloseTracksRequest", {"tracks": [], "force": True}, "$.tracks", "should be non-empty"),
    ("CloseTracksRequest", {"tracks": [{}], "force": True}, "$.tracks[0]", "'mid' is a required"),
    ("CloseTracksResponse", {"tracks": [{"mid": ""}]}, "$.tracks[0].mid", "non-empty"),
    ("GetSessionStateResponse", {"tracks": [{"status": "closed"}]}, "$.tracks[0].status",
     "not one of"),
    ("GetSessionStateResponse", {"dataChannels": [{"id": "2"}]}, "$.dataChannels[0].id",
     "not of type 'integer'"),
    ("ErrorResponse", {"errorCode": "x"}, "$", "'errorDescription' is a required property"),
    ("TurnCredentialsRequest", {"ttl": 0}, "$.ttl", "less than the minimum"),
    ("TurnCredentialsResponse", {"iceServers": [{"urls": []}]}, "$.iceServers[0].urls",
     "should be non-empty"),
    ("TurnCredentialsResponse", {"iceServers": [{"urls": "stun:x"}]}, "$.iceServers[0].urls",
     "not of type 'array'"),
    ("RenegotiateResponse", [], "$", "not of type 'object'"),
]  # fmt: skip


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_schema_is_a_valid_json_schema(name):
    jsonschema.Draft202012Validator.check_schema(SCHEMAS[name])


@pytest.mark.parametrize(("name", "body"), VALID)
def test_documented_shapes_validate(name, body):
    validate(name, body)


@pytest.mark.parametrize(("name", "body", "path", "message"), INVALID)
def test_a_wrong_body_names_the_schema_and_the_json_path(name, body, path, message):
    with pytest.raises(CallsSchemaError) as caught:
        validate(name, body)
    error = caught.value
    assert error.schema_name == name
    assert error.path == path
    assert str(error).startswith(f"{name}: at {path}: ")
    assert message in str(error)


def test_every_error_of_a_body_is_reported():
    with pytest.raises(CallsSchemaError) as caught:
        validate("TracksRequest", {"tracks": [{"location": 1, "mid": 2}], "autoDiscover": 3})
    assert sorted({path for path, _ in caught.value.errors}) == [
        "$.autoDiscover",
        "$.tracks[0].location",
        "$.tracks[0].mid",
    ]


def test_extra_fields_are_tolerated_as_in_the_openapi_document():
    validate("NewSessionResponse", {"sessionId": "s", "futureField": {"x": 1}})
    validate("TracksRequest", {"tracks": [{"location": "local", "trackName": "t", "new": 1}]})


def test_an_unknown_schema_name_is_a_key_error_listing_the_known_ones():
    with pytest.raises(KeyError, match="TracksRequest"):
        validate("TracksRequests", {})
