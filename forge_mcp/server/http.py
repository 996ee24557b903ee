"""Streamable HTTP transport with an optional static bearer token."""

from __future__ import annotations

import hmac

from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings


class StaticTokenVerifier(TokenVerifier):
    """Accepts exactly one token (compared in constant time)."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode(), self._token.encode()):
            return AccessToken(token=token, client_id="forge-mcp-client", scopes=["forge"])
        return None


def auth_settings(host: str, port: int) -> AuthSettings:
    # The SDK needs an issuer URL; with a static token there is no authorization server to name.
    return AuthSettings(
        issuer_url=f"http://{host}:{port}",
        resource_server_url=f"http://{host}:{port}/mcp",
        validate_token_resource=False,
        required_scopes=["forge"],
    )
