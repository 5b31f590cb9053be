"""cotchar: does a chain of thought in the assistant character's own voice make the character more robust?

Modules: `params` (the validated params.yaml), `world` (the synthetic world, its corpora and
tokenizer), `figures` (plotting), `notebook` (deterministic executed notebooks), `results`
(stage numbers), `paper` (the Typst build), `cli` (the `cotchar` command).
"""

__version__ = "0.1.0"
