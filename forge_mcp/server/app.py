"""Build and run the forge's MCP server (stdio or streamable HTTP).

Nothing here imports torch, mlx or chromadb: start-up must stay fast, and heavy work runs in the
pipeline modules (and worker processes) that tools call.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from forge_mcp import __version__
from forge_mcp.core.config import load_config
from forge_mcp.core.errors import ConfigError
from forge_mcp.server.cycle import register_cycle
from forge_mcp.server.deploy import register_deploy
from forge_mcp.server.http import StaticTokenVerifier, auth_settings
from forge_mcp.server.judge import register_judge
from forge_mcp.server.layers import register_layers
from forge_mcp.server.notify import Notifier
from forge_mcp.server.prompts import register_prompts
from forge_mcp.server.resources import register_resources
from forge_mcp.server.services import Forge, Services
from forge_mcp.server.tools import register_tools
from forge_mcp.server.training import register_training

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
forge-mcp keeps a code model in step with this repository, on this machine.
Start with `monitor_repo` to see what changed since the last trained commit and whether it is
significant. The loop: `chunk_data` -> `trigger_training` (follow `forge://runs/{id}/loss.png`) ->
`validate_model` (report at `forge://reports/{id}`) -> `deploy_model` only on a pass; `run_cycle`
does it all. Never train, deploy or force without the user's go-ahead. Resources: `forge://repos`,
`forge://runs`, `forge://reports`, `forge://deployments`, `forge://cycles` (subscribe for updates).
Paths must lie inside the repositories the server was started with."""


@dataclass
class AppState:
    forge: Forge
    notifier: Notifier


def build_server(
    forge: Forge, watch: bool = True, token: str | None = None, http_address: tuple[str, int] | None = None
) -> MCPServer:
    """The MCP server over `forge`; the watcher starts and stops with the server's lifespan.

    `token` (with `http_address`) requires `Authorization: Bearer <token>` on streamable HTTP.
    """
    notifier = Notifier()
    # The lifespan runs once per in-process client (once per process on stdio): the watchers and the
    # background services are shared, started with the first connection and stopped with the last.
    services = Services(forge)

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[AppState]:
        loop_token = anyio.lowlevel.current_token()

        def announce(*addresses: str) -> None:
            # Called on a worker thread: hop onto the server's event loop to notify.
            for uri in addresses:
                anyio.from_thread.run(notifier.announce, uri, token=loop_token)

        services.connections += 1
        if services.connections == 1:
            services.start(announce)
            if watch:
                await anyio.to_thread.run_sync(forge.start_watchers, services.on_batch)
        try:
            yield AppState(forge, notifier)
        finally:
            services.connections -= 1
            if services.connections == 0:
                await anyio.to_thread.run_sync(forge.stop_watchers)
                await anyio.to_thread.run_sync(services.stop)

    auth: dict[str, Any] = {}
    if token is not None:
        host, port = http_address or ("127.0.0.1", 8765)
        auth = {"token_verifier": StaticTokenVerifier(token), "auth": auth_settings(host, port)}
    server = MCPServer(
        "forge-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        subscriptions=notifier.bus,
        **auth,
    )
    notifier.install(server._lowlevel_server)  # documented workaround for 2025-era subscribe
    register_tools(server, forge)
    register_training(server, forge)
    register_layers(server, forge)
    register_judge(server, forge)
    register_deploy(server, forge)
    register_cycle(server, forge)
    register_resources(server, forge)
    register_prompts(server)
    return server


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(repos: Sequence[Path], http: bool = False, overrides: Mapping[str, Any] | None = None) -> None:
    """Run until the client disconnects (stdio) or the process is stopped (HTTP)."""
    forge = Forge(repos, overrides)
    cfg = load_config(forge.roots.default, overrides)
    if not http:
        build_server(forge, watch=cfg.watch.enabled).run()
        return
    host, port = cfg.server.host, cfg.server.port
    token = cfg.server.bearer_token()
    if not _is_loopback(host) and token is None:
        raise ConfigError(
            f"refusing to serve HTTP on {host} without a bearer token: pass --token-file PATH, or set "
            "FORGE_SERVER__TOKEN or FORGE_SERVER__TOKEN_FILE"
        )
    server = build_server(forge, watch=cfg.watch.enabled, token=token, http_address=(host, port))
    security: dict[str, Any] = {}
    if not _is_loopback(host):
        # The SDK turns DNS-rebinding checks on only for loopback binds; elsewhere the token guards it.

        security["transport_security"] = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    log.info("serving MCP over streamable HTTP at http://%s:%d/mcp", host, port)
    server.run("streamable-http", host=host, port=port, **security)
