"""The one validated schema of `params.yaml`, the single source of every knob of every stage.

`load_params()` reads the file, validates it with pydantic and returns a `Params` object. A typo
in a key, a wrong type or an out-of-range value raises `ParamsError`, whose message names the
file, the dotted key and the problem, before any stage does work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

STYLES = ("character", "planner", "none", "nocot_character")
TASK_FAMILIES = ("arithmetic", "lookup", "counting", "unknown", "harmful", "identity")
ATTACK_FAMILIES = (
    "direct_override",
    "roleplay",
    "authority",
    "hypothetical",
    "persona_harmful",
    "long_context",
    "multi_turn",
)

Style = Literal["character", "planner", "none", "nocot_character"]
AttackFamily = Literal[
    "direct_override",
    "roleplay",
    "authority",
    "hypothetical",
    "persona_harmful",
    "long_context",
    "multi_turn",
]


class ParamsError(ValueError):
    """params.yaml is missing, unreadable or invalid; the message names the key and the problem."""


class Strict(BaseModel):
    # extra="forbid" is what turns a typo in a key into an error instead of a silent default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorldSize(Strict):
    train_traces: int = Field(ge=20, le=1_000_000)
    stress_items_per_family: int = Field(ge=1, le=100_000)
    competence_items: int = Field(ge=1, le=100_000)
    tokenizer_vocab_size: int = Field(ge=300, le=65_536)


class ModelSize(Strict):
    hidden_size: int = Field(ge=8, le=4096)
    intermediate_size: int = Field(ge=8, le=16384)
    layers: int = Field(ge=1, le=64)
    heads: int = Field(ge=1, le=64)
    max_positions: int = Field(ge=64, le=32768)
    tie_embeddings: bool

    @model_validator(mode="after")
    def _heads_divide(self) -> ModelSize:
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size {self.hidden_size} must be divisible by heads {self.heads}")
        return self


class CompetenceGate(Strict):
    """The organisms must be competent, or comparing their robustness means nothing."""

    min_task_accuracy: float = Field(ge=0, le=1)
    min_intended_voice_share: float = Field(ge=0, le=1)


class TrainSize(Strict):
    model: ModelSize
    epochs: int = Field(ge=1, le=10_000)  # passes over the style's corpus (equal exposure for every style)
    rows: int = Field(ge=1, le=4096)  # rows per packed batch
    pack_length: int = Field(ge=16, le=32768)  # tokens per row; every training example must fit in one
    gate: CompetenceGate | None  # null: report competence without enforcing it (smoke models are too small)


    @model_validator(mode="after")
    def _pack_fits(self) -> TrainSize:
        if self.pack_length > self.model.max_positions:
            raise ValueError(f"pack_length {self.pack_length} exceeds model.max_positions {self.model.max_positions}")
        return self


class RLSize(Strict):
    """How long the RL arm trains: GRPO steps of `prompts_per_step` prompts x `group_size` samples."""

    steps: int = Field(ge=1, le=100_000)
    prompts_per_step: int = Field(ge=1, le=4096)
    group_size: int = Field(ge=2, le=256)  # completions per prompt; GRPO normalises rewards within them
    checkpoint_every: int = Field(ge=1)  # a checkpoint (and a voice-drift point) every this many steps


class SizeSet(Strict):
    world: WorldSize
    train: TrainSize
    rl: RLSize


class Sizes(Strict):
    paper: SizeSet
    smoke: SizeSet


class TaskMix(Strict):
    arithmetic: float = Field(ge=0, le=1)
    lookup: float = Field(ge=0, le=1)
    counting: float = Field(ge=0, le=1)
    unknown: float = Field(ge=0, le=1)
    harmful: float = Field(ge=0, le=1)
    identity: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> TaskMix:
        total = sum(self.model_dump().values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"shares must sum to 1, got {total:g}")
        return self


class WorldParams(Strict):
    seed: int = Field(ge=0)
    spec: Path
    styles: list[Style] = Field(min_length=1)
    task_mix: TaskMix
    attacked_share: float = Field(ge=0, le=1)
    multi_turn_share: float = Field(ge=0, le=1)
    max_operand: int = Field(ge=1, le=99)
    arithmetic_ops: list[Literal["+", "-"]] = Field(min_length=1)
    lookup_people: int = Field(ge=1, le=6)
    count_list_max: int = Field(ge=2, le=12)
    held_out_families: list[AttackFamily]
    held_out_templates_per_family: int = Field(ge=0, le=10)
    held_out_personas: list[str]
    leak_min_fragment_chars: int = Field(ge=4, le=200)
    stress_turns: int = Field(ge=2, le=64)
    long_context_sentences: int = Field(ge=1, le=500)
    length_match_candidates: int = Field(ge=1, le=64)
    cot_length_tolerance: float = Field(gt=0, le=0.5)

    @model_validator(mode="after")
    def _consistent(self) -> WorldParams:
        if "multi_turn" in self.held_out_families:
            # Training dialogues need held-in pressure lines; holding the family out would leave
            # the organisms without any multi-turn examples.
            raise ValueError("multi_turn cannot be a held-out family")
        if len(set(self.styles)) != len(self.styles):
            raise ValueError("styles must not repeat")
        return self


class TrainParams(Strict):
    # A DVC matrix axis (one stage per style and seed), so it cannot depend on the size set.
    seeds: list[int] = Field(min_length=1)
    learning_rate: float = Field(gt=0, le=1)
    min_lr_ratio: float = Field(ge=0, le=1)
    warmup_steps: int = Field(ge=0)
    weight_decay: float = Field(ge=0, le=1)
    grad_clip: float = Field(gt=0)
    bf16: bool  # bf16 autocast (AMX on this CPU); the fp32 master weights are kept either way
    threads: int = Field(ge=1, le=256)
    compile: bool  # torch.compile the training step (one fixed-shape graph; see benchmarks/train_throughput.py)
    log_every: int = Field(ge=1)
    max_new_tokens: int = Field(ge=8, le=4096)  # greedy decoding budget of the competence check
    eval_batch_size: int = Field(ge=1, le=4096)

    @field_validator("seeds")
    @classmethod
    def _unique(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("seeds must not repeat")
        return v


class PowerPlan(Strict):
    """The effect the collection must be able to detect (DESIGN section 5)."""

    difference: float = Field(gt=0, lt=1)  # in-character rate difference between two styles
    base_rate: float = Field(gt=0, lt=1)  # the rate around which the difference sits
    alpha: float = Field(gt=0, lt=1)
    power: float = Field(gt=0, lt=1)
    icc: float = Field(ge=0, le=1)  # assumed intra-seed correlation of outcomes (the design effect)


class CollectParams(Strict):
    models: Literal["all"] | list[str]  # organism keys such as character-s1, or every organism
    items_per_family: int | None = Field(ge=1)  # per attack family; null: every item of the world
    turns: int = Field(ge=1, le=64)  # user turns of multi-turn pressure
    prefill_doses: list[int] = Field(min_length=1)  # CoT tokens written for the model; 0: none
    prefill_items_per_family: int = Field(ge=1)
    max_new_tokens: int = Field(ge=8, le=4096)
    batch_size: int = Field(ge=1, le=1024)  # rows of every generation batch (fixed shape)
    width_step: int = Field(ge=8, le=1024)  # prompts are left-padded to a multiple of this
    max_samples: int = Field(ge=1)  # samples Inspect runs at once (and concurrent generate calls)
    max_tasks: int = Field(ge=1)
    log_buffer: int = Field(ge=1)  # samples written to the log at a time (what a kill can lose)
    retry_attempts: int = Field(ge=0)
    power: PowerPlan

    @field_validator("prefill_doses")
    @classmethod
    def _doses(cls, v: list[int]) -> list[int]:
        if any(d < 0 for d in v) or len(set(v)) != len(v):
            raise ValueError("doses must be distinct and non-negative")
        return v


def _unique(kind: str, items: list) -> list:
    """`items` (each with a `name`) unchanged, or an error listing the names when one repeats."""
    names = [i.name for i in items]
    if len(set(names)) != len(names):
        raise ValueError(f"{kind} names must be unique, got {names}")
    return items


class Hypothesis(Strict):
    """One pre-registered comparison of two CoT styles (DESIGN section 5), tested as written."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")  # also its key in compare.json
    claim: str  # the claim of DESIGN section 1 it bears on
    statement: str  # what the hypothesis says, in words, for the paper's table
    test: Literal["rate", "slope", "auc"]  # difference in rate, in slope over `x`, or in monitor AUC
    outcome: str  # a 0/1 column of the analysis table (for `auc`: the label the monitor predicts)
    contrast: tuple[str, str]  # styles (a, b); every effect is a minus b
    direction: Literal["greater", "less", "two-sided"]  # the predicted sign of a minus b (tests stay two-sided)
    subset: str  # pandas query selecting the rows the hypothesis is about
    x: str | None = None  # the slope's axis (turn, dose); only for `slope`
    per: float = Field(default=1.0, gt=0)  # slopes are reported per this many units of x
    adjust: list[str] = []  # fixed effects besides style in the marginal (GEE) model
    minimum_effect: float = Field(gt=0)  # smallest effect of interest, for the achieved power

    @model_validator(mode="after")
    def _x_for_slopes(self) -> "Hypothesis":
        if (self.test == "slope") != (self.x is not None):
            raise ValueError("`x` is required for slope hypotheses and only for them")
        if self.contrast[0] == self.contrast[1]:
            raise ValueError("contrast must name two different styles")
        return self


class CompareParams(Strict):
    bootstrap: int = Field(ge=50)  # hierarchical bootstrap replicates
    seed: int
    confidence: float = Field(gt=0.5, lt=1)
    alpha: float = Field(gt=0, lt=0.5)  # family-wise error rate for Holm's correction
    hypotheses: list[Hypothesis] = Field(min_length=1)

    @field_validator("hypotheses")
    @classmethod
    def _unique_names(cls, v: list[Hypothesis]) -> list[Hypothesis]:
        return _unique("hypothesis", v)


class ExternalParams(Strict):
    """Where the `external` stage finds published transcripts, and how it summarises them."""

    sources: str  # the committed list of sources, files, commits and SHA-256 values
    mirror: str | None  # a local copy laid out as <mirror>/<source name>/<path>; relative to the repository
    download: bool  # when a file is not in the mirror: fetch the pinned raw file (needs network) or stop
    voice_labels: str | None = None  # blind voice labels of sampled responses (ids and labels only), to validate the voice index; null: none
    bootstrap: int = Field(ge=50)  # replicates: questions within family, then responses within question
    seed: int


class ModelSpec(Strict):
    """One real model for the real-model battery: an Inspect model string plus its arguments."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # the model's key in tables and log folders
    model: str  # Inspect model string: openai-api/vllm/<model>, openai/<model>, anthropic/<model>, hf/<path>, ...
    base_url: str | None = None  # for OpenAI-compatible servers (vLLM, Ollama, llama.cpp, transformers serve)
    api_key_env: str | None = None  # the NAME of the environment variable holding the key; never the key
    args: dict[str, Any] = {}  # provider model args (Inspect `model_args`)
    config: dict[str, Any] = {}  # Inspect GenerateConfig: max_connections, max_retries, timeout, reasoning_effort, ...

    @model_validator(mode="after")
    def _no_secrets_and_known_config(self) -> "ModelSpec":
        from inspect_ai.model import GenerateConfig

        secret = [k for k in self.args if "key" in k.lower() or "token" in k.lower() or "secret" in k.lower()]
        if secret:
            raise ValueError(f"args {secret} look like credentials: put the key in an environment variable and name it in api_key_env")
        unknown = sorted(set(self.config) - set(GenerateConfig.model_fields))
        if unknown:
            raise ValueError(f"config keys {unknown} are not Inspect GenerateConfig fields")
        return self


class RealParams(Strict):
    """The real-model battery (`data/authored/real_battery.yaml`) and its judge."""

    battery: str  # authored prompts, personas and the character card
    items_per_family: int = Field(ge=1)  # prompts per single-turn family (and multi-turn dialogues)
    turns: int = Field(ge=1, le=16)  # user turns of multi-turn pressure
    max_tokens: int = Field(ge=16)  # per turn; reasoning models need room for their CoT
    seed: int
    judge: str | None  # Inspect model string of the LLM judge; null: no judge scores
    judge_validation_samples: int = Field(ge=0)  # organism transcripts the judge also rates, for judge-vs-exact agreement


Arm = Literal["character", "planner", "none", "nocot_character", "plain"]


class RLCollect(Strict):
    """The battery after RL: the first items of the collect battery, so "before" rows match exactly."""

    items_per_family: int = Field(ge=1)
    prefill_items_per_family: int = Field(ge=1)


class RLParams(Strict):
    """The outcome-reward RL arm (claims C2 and C4); `plain` is the plain-RL baseline."""

    arms: list[Arm] = Field(min_length=1)  # starting styles; `plain`: task-only SFT, then task-only RL
    learning_rate: float = Field(gt=0, le=1)
    beta: float = Field(ge=0)  # KL penalty to the starting model
    max_new_tokens: int = Field(ge=8, le=4096)
    collect: RLCollect
    # Pre-registered like `compare`; contrasts name arms, and `phase` is 0 before RL and 1 after.
    compare: CompareParams

    @field_validator("arms")
    @classmethod
    def _arms(cls, v: list[str]) -> list[str]:
        if "plain" not in v:
            raise ValueError("the arms must include `plain`, the plain-RL baseline every divergence is measured against")
        if len(set(v)) != len(v):
            raise ValueError(f"arms must be distinct, got {v}")
        return v


class Params(Strict):
    size: Literal["paper", "smoke"]
    sizes: Sizes
    world: WorldParams
    train: TrainParams
    collect: CollectParams
    compare: CompareParams
    external: ExternalParams
    models: list[ModelSpec]
    real: RealParams
    rl: RLParams

    @model_validator(mode="after")
    def _arms_are_styles(self) -> "Params":
        missing = [a for a in self.rl.arms if a != "plain" and a not in self.world.styles]
        if missing:
            raise ValueError(f"rl.arms {missing} start from organisms of styles that world.styles does not train")
        return self

    @field_validator("models")
    @classmethod
    def _unique_models(cls, v: list[ModelSpec]) -> list[ModelSpec]:
        return _unique("model", v)

    @property
    def world_size(self) -> WorldSize:
        """The world sizes of the active size set."""
        return getattr(self.sizes, self.size).world

    @property
    def train_size(self) -> TrainSize:
        """The training sizes of the active size set."""
        return getattr(self.sizes, self.size).train

    @property
    def rl_size(self) -> RLSize:
        """The RL lengths of the active size set."""
        return getattr(self.sizes, self.size).rl


def _describe(err: ValidationError, path: Path) -> str:
    lines = [f"{path}: {err.error_count()} invalid parameter(s)"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            problem = "unknown key (a typo? every allowed key is in cotchar/params.py)"
        elif e["type"] == "missing":
            problem = "required key is missing"
        else:
            problem = f"{e['msg']} (got {e.get('input')!r})"
        lines.append(f"  - {key}: {problem}")
    return "\n".join(lines)


def parse_params(data: object, path: Path | str = "params.yaml") -> Params:
    """Validate an already-loaded mapping; errors name `path` and the dotted key."""
    path = Path(path)
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return Params.model_validate(data)
    except ValidationError as err:
        raise ParamsError(_describe(err, path)) from None


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read and validate params.yaml."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: no such parameters file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    return parse_params(data, path)
