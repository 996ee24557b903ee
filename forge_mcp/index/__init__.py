"""The RAG index: dense vectors in ChromaDB (from a stock or repository-adapted embedder), BM25 over identifier
tokens, fused by a weighted sum of normalised scores (or reciprocal rank)."""
