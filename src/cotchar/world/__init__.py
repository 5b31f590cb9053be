"""The synthetic world of the model organisms (DESIGN section 2).

`spec` (authored content), `traces` (decision traces, held-out split, stress items), `render`
(CoT styles and chat examples), `tokenizer` (BPE + chat template), `leaks` (held-out check),
`build` (the `world` stage).
"""
