"""MCP resources for what a run's fine-tuning changed, per layer (thin wrappers over forge_mcp.train.layers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

from forge_mcp.core import uris
from forge_mcp.core.errors import ForgeError, NotFoundError
from forge_mcp.server.services import Forge
from forge_mcp.train.layers import run_layers as layers
from forge_mcp.train.plots import layers_png


@contextmanager
def resource_errors() -> Iterator[None]:
    """Forge errors as resource errors: the SDK passes only those on with their message (any other
    exception, ToolError included, reaches the client as a bare "Error creating resource")."""
    try:
        yield
    except NotFoundError as exc:
        raise ResourceNotFoundError(str(exc)) from exc
    except ForgeError as exc:
        raise ResourceError(str(exc)) from exc


def register_layers(server: MCPServer, forge: Forge) -> None:
    @server.resource(
        uris.RUN_LAYERS,
        mime_type="application/json",
        description="What fine-tuning changed, per layer and module (q_proj, v_proj, ...): the "
        "Frobenius norm of each adapter update ΔW = scale·B·A, its effective rank and "
        "top singular value, ||ΔW||/||W|| against the base weights (not for quantized "
        "bases), DoRA's magnitude change, totals per layer and per module, and a "
        "summary. Reads the final adapter, or while training the best one so far.",
    )
    def run_layers(run_id: str) -> str:

        with resource_errors():
            return layers(forge.workspace_of_run(run_id), run_id).model_dump_json(indent=2)

    @server.resource(
        uris.RUN_LAYERS_PNG,
        mime_type="image/png",
        description="Heatmaps, layers × modules, of how much each weight changed (||ΔW||/||W|| "
        "or ||ΔW||) and the effective rank of each update, as a PNG.",
    )
    def run_layers_plot(run_id: str) -> bytes:

        with resource_errors():
            return layers_png(layers(forge.workspace_of_run(run_id), run_id))
