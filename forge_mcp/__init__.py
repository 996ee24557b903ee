"""forge-mcp: a local AI forge for one code repository, driven over the Model Context Protocol."""

__version__ = "0.1.0"
