"""The Miner: files from git, tree-sitter chunks, secrets kept out, fine-tuning datasets."""
