"""`jiefang serve --workers N` hands its workers a listening socket marked as TCP, so the
connections they accept get TCP_NODELAY: keep-alive responses are not held back waiting
for the client's delayed ACK."""

from __future__ import annotations

import asyncio
import socket

import uvicorn

from app.core.cli import ASGI_APP, tcp_listener


class _Probe(asyncio.Protocol):
    def __init__(self, accepted: asyncio.Future[bool]) -> None:
        self.accepted = accepted

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        self.accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0)
        transport.close()


async def _nodelay_of_an_accepted_connection(listener: socket.socket) -> bool:
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[bool] = loop.create_future()
    server = await loop.create_server(lambda: _Probe(accepted), sock=listener)
    host, port = listener.getsockname()[:2]
    _, writer = await asyncio.open_connection(host, port)
    try:
        return await asyncio.wait_for(accepted, 30)
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


def test_connections_accepted_by_the_workers_listener_have_tcp_nodelay() -> None:
    config = uvicorn.Config(ASGI_APP, factory=True, host="127.0.0.1", port=0, workers=2)
    listener = tcp_listener(config)
    try:
        assert listener.proto == socket.IPPROTO_TCP
        assert asyncio.run(_nodelay_of_an_accepted_connection(listener))
    finally:
        listener.close()
