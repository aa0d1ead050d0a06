"""The close codes the consumer closes with are plain ints: Daphne's WebSocket library refuses
any other type (an IntEnum member included) and the browser then sees 1006, not the code."""

from rooms import services
from rooms.protocol import CloseCode


def test_every_close_code_the_consumer_uses_is_a_plain_int_of_the_protocol():
    names = [
        "NOT_AUTHENTICATED",
        "NOT_ALLOWED",
        "UNKNOWN_ROOM",
        "ROOM_CLOSED",
        "REPLACED",
        "TIMED_OUT",
        "ABUSE",
        "UNAVAILABLE",
    ]
    for name in names:
        code = getattr(services, name)
        assert type(code) is int, name
        assert code == CloseCode[name]
    assert {CloseCode[name] for name in names} == set(CloseCode)
