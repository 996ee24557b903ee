"""server/http.py: the static bearer-token verifier and the auth settings of the HTTP transport (the transport
itself runs in tests/server/test_transports.py)."""

from __future__ import annotations

import pytest

from forge_mcp.server.http import StaticTokenVerifier, auth_settings

pytestmark = pytest.mark.anyio


async def test_only_the_one_token_is_accepted() -> None:
    verifier = StaticTokenVerifier("s3cret-token")
    granted = await verifier.verify_token("s3cret-token")
    assert granted is not None and granted.scopes == ["forge"] and granted.client_id == "forge-mcp-client"
    for wrong in ("", "s3cret", "s3cret-token ", "S3CRET-TOKEN", "é"):
        assert await verifier.verify_token(wrong) is None


def test_auth_settings_name_this_server() -> None:
    settings = auth_settings("127.0.0.1", 8765)
    assert str(settings.issuer_url).rstrip("/") == "http://127.0.0.1:8765"
    assert str(settings.resource_server_url) == "http://127.0.0.1:8765/mcp"
    assert settings.required_scopes == ["forge"]
