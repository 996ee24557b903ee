"""The named choices every stage shares (methods, tasks, targets...), each spelled out once: the config, the
pipeline, the tools' schemas and the CLI take them from here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

Method = Literal["lora", "dora", "qlora", "pissa", "qpissa"]  # adapter methods (train/methods.py)
Task = Literal["completion", "instruction", "raft", "text"]  # dataset tasks (miner/datasets.py)
Target = Literal["auto", "ollama", "llama_cpp"]  # where a model is deployed; auto: Ollama when it answers
OutType = Literal["f32", "f16", "q8_0"]  # tensor type of an exported GGUF
Quantize = Literal["none", "q4_k_m"]
GateRule = Literal["baseline", "absolute"]  # how validation decides pass or fail
SearchMode = Literal["hybrid", "dense", "lexical"]
Fusion = Literal["convex", "rrf"]  # how hybrid search fuses the dense and the BM25 rankings

# Long work reports (done, total, what it is doing) through one of these.
Progress = Callable[[int, int, str], None]
