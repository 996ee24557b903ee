"""`python -m forge_mcp` runs the CLI."""

from forge_mcp.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
