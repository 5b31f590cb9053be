"""Model organisms: small Llama-architecture models trained from scratch, one per CoT style and seed.

`model` (configuration and construction), `data` (chat examples to masked token batches),
`train` (the training loop), `generate` (batched greedy generation), `competence` (the
competence and manipulation checks after training).
"""
