"""Resource-updated announcements to subscribed clients of both protocol eras.

2026-era clients listen through `subscriptions/listen` (the SDK's subscription bus); 2025-era clients
call `resources/subscribe`, which MCPServer does not serve, so we register that handler on the
low-level server and remember which connection asked for which URI.
"""

from __future__ import annotations

import logging
from typing import Any

import mcp_types as types
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self) -> None:
        self.bus = InMemorySubscriptionBus()
        self._legacy: dict[str, dict[Any, Any]] = {}  # uri -> {connection: session}

    def install(self, lowlevel: Any) -> None:
        """Serve 2025-era `resources/subscribe` and `resources/unsubscribe`."""
        lowlevel.add_request_handler("resources/subscribe", types.SubscribeRequestParams, self._subscribe)
        lowlevel.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, self._unsubscribe)

    async def _subscribe(self, ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
        uri, session = str(params.uri), ctx.session
        # ctx.session is a per-request proxy; the connection object is what identifies a client.
        conn = getattr(session, "_connection", session)
        subs = self._legacy.setdefault(uri, {})
        if conn not in subs:
            subs[conn] = session
            stack = getattr(conn, "exit_stack", None)
            if stack is not None:  # sends to a closed connection are dropped silently: forget it on close
                stack.callback(self._forget, uri, conn)
        return types.EmptyResult()

    async def _unsubscribe(self, ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        self._forget(str(params.uri), getattr(ctx.session, "_connection", ctx.session))
        return types.EmptyResult()

    def _forget(self, uri: str, conn: Any) -> None:
        self._legacy.get(uri, {}).pop(conn, None)

    async def announce(self, uri: str) -> None:
        """Tell every subscriber of `uri`, in both eras, that it changed."""
        await self.bus.publish(ResourceUpdated(uri=uri))
        for conn, session in list(self._legacy.get(uri, {}).items()):
            try:
                await session.send_resource_updated(uri)
            except Exception as exc:  # one client that went away must not stop the others' updates
                log.debug("dropping legacy subscriber after a failed send: %s", exc, exc_info=True)
                self._forget(uri, conn)
