"""The room protocol's close codes and frame types are defined once (rooms.protocol) and are
the ones docs/protocol.md documents: a code or frame added on one side only fails here."""

import re
from pathlib import Path

from rooms import consumers, protocol
from rooms.protocol import FINAL_CLOSE_CODES, ClientFrame, CloseCode, ServerFrame

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def _section(title: str) -> str:
    return DOC.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_the_close_codes_are_the_documented_ones():
    documented = {int(code) for code in re.findall(r"^\| (4\d{3}) \|", DOC, re.MULTILINE)}
    assert documented == set(CloseCode)


def test_the_final_close_codes_are_the_documented_ones():
    sentence = re.search(r"treats ([\d, and]+) as final", DOC).group(1)
    assert {int(code) for code in re.findall(r"\d{4}", sentence)} == FINAL_CLOSE_CODES


def test_the_frame_types_are_the_documented_ones():
    def types(text: str) -> set[str]:
        return set(re.findall(r'"type": "([a-z0-9._]+)"', text))

    assert types(_section("Client to server")) == set(ClientFrame) == set(protocol.PARSERS)
    assert types(_section("Server to client")) == set(ServerFrame)


def test_every_access_refusal_closes_with_its_own_code():
    table = dict(consumers.CLOSE_CODE_OF_ERROR)
    assert set(table.values()) == {
        CloseCode.NOT_AUTHENTICATED,
        CloseCode.NOT_ALLOWED,
        CloseCode.UNKNOWN_ROOM,
        CloseCode.ROOM_CLOSED,
    }
