"""The RAG index: dense vectors in ChromaDB, BM25 over identifier tokens, fused by reciprocal rank."""
