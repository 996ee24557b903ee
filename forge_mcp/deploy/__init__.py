"""Deploy: fuse adapters, export and verify GGUF, serve through Ollama or llama.cpp, log and roll back."""
