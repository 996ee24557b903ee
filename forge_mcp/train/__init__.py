"""`trigger_training`: base models (imported GGUFs, Ollama models, the tiny offline one), the hardware plan,
fine-tuning methods, and the background worker."""
