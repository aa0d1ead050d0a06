"""The close codes the consumer closes with are plain ints: Daphne's WebSocket library refuses
any other type (an IntEnum member included) and the browser then sees 1006, not the code."""

import pytest

from rooms.consumers import RoomConsumer
from rooms.protocol import CloseCode, RoomClosed

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("code", list(CloseCode), ids=lambda code: code.name)
async def test_every_close_reaches_daphne_as_a_plain_int(code):
    consumer = RoomConsumer()
    consumer.access = None  # closed before it joined: no leave to do
    sent, closed = [], []

    async def send(text_data):
        sent.append(text_data)

    async def close(code):
        closed.append(code)

    consumer.send, consumer.close = send, close
    await consumer._close(RoomClosed(code, "Why."))
    assert [type(value) for value in closed] == [int]
    assert closed == [int(code)]
