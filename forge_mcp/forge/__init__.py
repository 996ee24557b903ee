"""The Forge: base models (incl. the tiny offline one), fine-tuning methods and the training worker."""
