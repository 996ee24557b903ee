"""The MCP server: thin wrappers over the pipeline (no pipeline logic lives here)."""
