"""JSON Schemas for the Cloudflare Calls (Realtime SFU) HTTP bodies this project sends and reads.

Our own encoding of the contract in Cloudflare's OpenAPI document "Cloudflare Realtime API" 1.0
(2024-05-21) and its TURN credentials page; see docs/cloudflare-calls.md. Field
names, types, enums and required fields follow that document. Like it, no object here sets
`additionalProperties`: the API may add fields, and a reader must tolerate them.

Two deliberate tightenings, both facts stated in the document's prose rather than its schema
blocks: a track's `kind` is "audio" or "video", and the error body (`ErrorResponse`) requires
`errorCode` and `errorDescription` (as the document's AdapterRequestError does).

Both the CallsClient tests and the local SFU (standins/calls_sfu) validate every request and
response with `validate(name, body)`. Only they: production code never imports jsonschema.
"""

from typing import Any

import jsonschema

__all__ = ["SCHEMAS", "CallsSchemaError", "validate"]

_STRING = {"type": "string"}
_BOOLEAN = {"type": "boolean"}

SESSION_DESCRIPTION: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sdp": _STRING,
        "type": {"type": "string", "enum": ["answer", "offer"]},
    },
}

SIMULCAST: dict[str, Any] = {
    "type": "object",
    "properties": {
        "preferredRid": _STRING,
        "priorityOrdering": {"type": "string", "enum": ["none", "asciibetical"]},
        "ridNotAvailable": {"type": "string", "enum": ["none", "asciibetical"]},
    },
}

TRACK_OBJECT: dict[str, Any] = {
    "type": "object",
    "properties": {
        # local: I publish it; remote: I play a track another session publishes.
        "location": {"type": "string", "enum": ["local", "remote"]},
        # The transceiver's mid; "#<trackName>" names an existing transceiver by its track.
        "mid": _STRING,
        # The owner's session: remote tracks only.
        "sessionId": _STRING,
        "trackName": _STRING,
        "bidirectionalMediaStream": _BOOLEAN,
        "kind": {"type": "string", "enum": ["audio", "video"]},
        "simulcast": SIMULCAST,
    },
}

# An item of a response's `tracks`: a track, or the reason that one item failed.
_ITEM_ERROR: dict[str, Any] = {
    "properties": {"errorCode": _STRING, "errorDescription": _STRING},
}
TRACK_RESULT: dict[str, Any] = {"allOf": [TRACK_OBJECT, _ITEM_ERROR]}

CLOSE_TRACK_OBJECT: dict[str, Any] = {
    "type": "object",
    "required": ["mid"],
    "properties": {"mid": {"type": "string", "minLength": 1}},
}

# active: not closed or unavailable (media) / open (data channel); inactive: closed or
# unavailable; initializing: a data channel still connecting.
SESSION_RESOURCE_STATUS: dict[str, Any] = {
    "type": "string",
    "enum": ["active", "inactive", "initializing"],
}

SESSION_DATA_CHANNEL_STATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "enum": ["local", "remote"]},
        "sessionId": _STRING,
        "dataChannelName": _STRING,
        "id": {"type": "integer"},
        "status": SESSION_RESOURCE_STATUS,
    },
}

# Top-level errorCode / errorDescription, optional on every response body of the document.
_REQUEST_ERROR_PROPERTIES: dict[str, Any] = {"errorCode": _STRING, "errorDescription": _STRING}

ERROR_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": ["errorCode", "errorDescription"],
    "properties": _REQUEST_ERROR_PROPERTIES,
}

NEW_SESSION_REQUEST: dict[str, Any] = {
    "type": "object",
    "properties": {"sessionDescription": SESSION_DESCRIPTION},
}

NEW_SESSION_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": ["sessionId"],
    "properties": {
        **_REQUEST_ERROR_PROPERTIES,
        "sessionDescription": SESSION_DESCRIPTION,
        "sessionId": _STRING,
    },
}

TRACKS_REQUEST: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sessionDescription": SESSION_DESCRIPTION,
        "tracks": {"type": "array", "items": TRACK_OBJECT},
        # Give a random trackName to every new track in the offered SDP.
        "autoDiscover": _BOOLEAN,
    },
}

TRACKS_RESPONSE: dict[str, Any] = {
    "type": "object",
    "properties": {
        **_REQUEST_ERROR_PROPERTIES,
        "requiresImmediateRenegotiation": _BOOLEAN,
        "sessionDescription": SESSION_DESCRIPTION,
        "tracks": {"type": "array", "items": TRACK_RESULT},
    },
}

RENEGOTIATE_REQUEST: dict[str, Any] = {
    "type": "object",
    "properties": {"sessionDescription": SESSION_DESCRIPTION},
}

RENEGOTIATE_RESPONSE: dict[str, Any] = {
    "type": "object",
    "properties": {
        **_REQUEST_ERROR_PROPERTIES,
        "sessionDescription": SESSION_DESCRIPTION,
    },
}

CLOSE_TRACKS_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["tracks", "force"],
    "properties": {
        # With force=false: the endpoint's offer, after it stopped the closed transceivers.
        "sessionDescription": SESSION_DESCRIPTION,
        "tracks": {"type": "array", "minItems": 1, "items": CLOSE_TRACK_OBJECT},
        "force": _BOOLEAN,
    },
}

CLOSE_TRACKS_RESPONSE: dict[str, Any] = {
    "type": "object",
    "properties": {
        **_REQUEST_ERROR_PROPERTIES,
        "sessionDescription": SESSION_DESCRIPTION,
        "tracks": {"type": "array", "items": {"allOf": [CLOSE_TRACK_OBJECT, _ITEM_ERROR]}},
        "requiresImmediateRenegotiation": _BOOLEAN,
    },
}

UPDATE_TRACKS_REQUEST: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tracks": {"type": "array", "items": TRACK_OBJECT},
        "sessionDescription": SESSION_DESCRIPTION,
    },
}

UPDATE_TRACKS_RESPONSE: dict[str, Any] = {
    "type": "object",
    "properties": {
        **_REQUEST_ERROR_PROPERTIES,
        "requiresImmediateRenegotiation": _BOOLEAN,
        "tracks": {"type": "array", "items": TRACK_RESULT},
    },
}

GET_SESSION_STATE_RESPONSE: dict[str, Any] = {
    "type": "object",
    "properties": {
        **_REQUEST_ERROR_PROPERTIES,
        "tracks": {
            "type": "array",
            "items": {
                "allOf": [TRACK_OBJECT, {"properties": {"status": SESSION_RESOURCE_STATUS}}],
            },
        },
        "dataChannels": {"type": "array", "items": SESSION_DATA_CHANNEL_STATE},
    },
}

# Cloudflare TURN: POST /turn/keys/{keyId}/credentials/generate-ice-servers with
# `Authorization: Bearer <TURN key API token>`; 201 with an RTCIceServer list for a browser.
TURN_CREDENTIALS_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["ttl"],
    "properties": {"ttl": {"type": "integer", "minimum": 1}},
}

ICE_SERVER: dict[str, Any] = {
    "type": "object",
    "required": ["urls"],
    "properties": {
        "urls": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
        "username": _STRING,
        "credential": _STRING,
    },
}

TURN_CREDENTIALS_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": ["iceServers"],
    "properties": {"iceServers": {"type": "array", "items": ICE_SERVER}},
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "SessionDescription": SESSION_DESCRIPTION,
    "TrackObject": TRACK_OBJECT,
    "ErrorResponse": ERROR_RESPONSE,
    "NewSessionRequest": NEW_SESSION_REQUEST,
    "NewSessionResponse": NEW_SESSION_RESPONSE,
    "TracksRequest": TRACKS_REQUEST,
    "TracksResponse": TRACKS_RESPONSE,
    "RenegotiateRequest": RENEGOTIATE_REQUEST,
    "RenegotiateResponse": RENEGOTIATE_RESPONSE,
    "CloseTracksRequest": CLOSE_TRACKS_REQUEST,
    "CloseTracksResponse": CLOSE_TRACKS_RESPONSE,
    "UpdateTracksRequest": UPDATE_TRACKS_REQUEST,
    "UpdateTracksResponse": UPDATE_TRACKS_RESPONSE,
    "GetSessionStateResponse": GET_SESSION_STATE_RESPONSE,
    "TurnCredentialsRequest": TURN_CREDENTIALS_REQUEST,
    "TurnCredentialsResponse": TURN_CREDENTIALS_RESPONSE,
}

_VALIDATORS = {name: jsonschema.Draft202012Validator(schema) for name, schema in SCHEMAS.items()}


class CallsSchemaError(ValueError):
    """A body does not match its schema. `errors` holds (JSON path, message) pairs."""

    def __init__(self, schema_name: str, errors: list[tuple[str, str]]) -> None:
        self.schema_name = schema_name
        self.errors = errors
        details = "; ".join(f"at {path}: {message}" for path, message in errors)
        super().__init__(f"{schema_name}: {details}")

    @property
    def path(self) -> str:
        """The JSON path of the first error, e.g. `$.tracks[0].location`."""
        return self.errors[0][0]


def validate(schema_name: str, body: Any) -> None:
    """Raise CallsSchemaError (naming the schema and each JSON path) unless `body` matches."""
    try:
        validator = _VALIDATORS[schema_name]
    except KeyError:
        known = ", ".join(sorted(SCHEMAS))
        raise KeyError(f"No Calls schema named {schema_name!r}; known: {known}") from None
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.absolute_path))
    if errors:
        raise CallsSchemaError(schema_name, [(error.json_path, error.message) for error in errors])
