"""server.notify: resource-updated announcements reach subscribers of both protocol eras, and only them."""

from __future__ import annotations

import warnings
from contextlib import AsyncExitStack
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.server.subscriptions import ResourceUpdated

from forge_mcp.server.notify import Notifier

pytestmark = pytest.mark.anyio
URI = "forge://things/one"


def server_with(notifier: Notifier) -> MCPServer:
    server = MCPServer("notify-test", subscriptions=notifier.bus)
    notifier.install(server._lowlevel_server)

    @server.resource(URI)
    def one() -> str:
        return "one"

    @server.resource("forge://things/two")
    def two() -> str:
        return "two"

    return server


def updates_into(updates: list[str]) -> Any:
    async def handler(message: object) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))

    return handler


async def subscribe(client: Client, uri: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # resources/subscribe is deprecated for 2026-era clients only
        await client.subscribe_resource(uri)


async def unsubscribe(client: Client, uri: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        await client.unsubscribe_resource(uri)


async def wait_for(updates: list[str], uri: str) -> None:
    with anyio.fail_after(5):
        while uri not in updates:
            await anyio.sleep(0.01)


async def test_bus_listeners_get_every_announcement() -> None:
    notifier = Notifier()
    seen: list[Any] = []
    stop = notifier.bus.subscribe(seen.append)
    await notifier.announce(URI)
    stop()
    await notifier.announce("forge://things/two")
    assert seen == [ResourceUpdated(uri=URI)]


async def test_modern_client_hears_an_announcement() -> None:
    notifier = Notifier()
    async with Client(server_with(notifier)) as client:
        async with client.listen(resource_subscriptions=[URI]) as sub:
            await notifier.announce(URI)
            with anyio.fail_after(5):
                event = await sub.__anext__()
        assert event.uri == URI


async def test_legacy_subscribers_hear_only_their_uris_until_they_unsubscribe() -> None:
    notifier = Notifier()
    server = server_with(notifier)
    first: list[str] = []
    second: list[str] = []
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(Client(server, mode="legacy", message_handler=updates_into(first)))
        b = await stack.enter_async_context(Client(server, mode="legacy", message_handler=updates_into(second)))
        await subscribe(a, URI)
        await subscribe(a, URI)  # twice: still one subscription
        await subscribe(b, "forge://things/two")
        await notifier.announce(URI)
        await notifier.announce("forge://things/two")
        await wait_for(first, URI)
        await wait_for(second, "forge://things/two")
        await unsubscribe(a, URI)
        await notifier.announce(URI)
        await notifier.announce("forge://things/two")
        await wait_for(second, "forge://things/two")
        with anyio.fail_after(5):
            while second.count("forge://things/two") < 2:
                await anyio.sleep(0.01)
        assert first == [URI]  # one announcement while subscribed, none after unsubscribing
        assert URI not in second


async def test_a_closed_legacy_connection_is_forgotten() -> None:
    notifier = Notifier()
    server = server_with(notifier)
    updates: list[str] = []
    async with Client(server, mode="legacy") as gone:
        await subscribe(gone, URI)
    async with Client(server, mode="legacy", message_handler=updates_into(updates)) as client:
        await subscribe(client, URI)
        await notifier.announce(URI)  # the first client's connection is closed: it must not stop this one
        await wait_for(updates, URI)
    await notifier.announce(URI)  # nobody left: nothing to send, nothing raised
    assert updates == [URI]
