"""The character-robustness battery: Inspect tasks (`battery`), the `organism` model provider
(`provider`), the exact scorers (`scorers`) and the `collect` stage (`collect`).

Importing the package registers the `organism` provider with Inspect.
"""

from cotchar.stress import provider as provider  # noqa: F401  (registers `organism/...` models)
