"""ICE on loopback only: host candidates on 127.0.0.1, and a minimal STUN responder.

aioice (under aiortc) gathers a host candidate for every non-loopback interface and skips
127.0.0.1; a loopback-only SFU needs the opposite. `use_loopback_host_candidates()` replaces
aioice's address discovery **for the whole process** (every RTCPeerConnection in it, including
a test's aiortc clients), which is what both the SFU process and the test process want. Peer
connections are also created with an empty iceServers list: aiortc otherwise adds a public STUN
server.

The TURN stand-in hands out a `stun:` URL served by `StunResponder`: it answers Binding requests
with the sender's address (RFC 5389), so a browser's ICE gathering completes at once.
"""

import asyncio
import logging
from typing import Any

import aioice.ice
from aioice import stun

logger = logging.getLogger(__name__)

LOOPBACK_IPV4 = "127.0.0.1"


def _loopback_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return [LOOPBACK_IPV4] if use_ipv4 else []


def use_loopback_host_candidates() -> None:
    """Make aioice gather its host candidates on 127.0.0.1 only (process-wide, idempotent)."""
    aioice.ice.get_host_addresses = _loopback_host_addresses


class StunResponder(asyncio.DatagramProtocol):
    """Answers STUN Binding requests with XOR-MAPPED-ADDRESS; ignores anything else."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        try:
            request = stun.parse_message(data)
        except ValueError:
            return
        if (
            request.message_method != stun.Method.BINDING
            or request.message_class != stun.Class.REQUEST
        ):
            return
        response = stun.Message(
            message_method=stun.Method.BINDING,
            message_class=stun.Class.RESPONSE,
            transaction_id=request.transaction_id,
        )
        response.attributes["XOR-MAPPED-ADDRESS"] = (addr[0], addr[1])
        response.add_fingerprint()
        self.transport.sendto(bytes(response), addr)


async def start_stun_responder(host: str, port: int) -> tuple[asyncio.DatagramTransport, int]:
    """Serve STUN on UDP `host:port` (or, if that port is taken, a free one)."""
    loop = asyncio.get_running_loop()
    try:
        transport, _ = await loop.create_datagram_endpoint(StunResponder, local_addr=(host, port))
    except OSError:
        logger.info("UDP port %s is taken; serving STUN on a free port", port)
        transport, _ = await loop.create_datagram_endpoint(StunResponder, local_addr=(host, 0))
    return transport, transport.get_extra_info("sockname")[1]
