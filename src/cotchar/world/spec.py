"""The authored content of the world (`data/authored/world.yaml`) and its validation.

The YAML holds what a person wrote: the character card, rival personas, task material, the
phrasebooks that render a decision trace in each CoT voice, and the attack templates. Loading it
checks that every template uses only the slots its renderer fills, so a typo in a slot fails
here with the file and key named, not as a KeyError halfway through a stage.
"""

from __future__ import annotations

import string
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cotchar.params import ATTACK_FAMILIES


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def slots(template: str) -> set[str]:
    """The `{slot}` names a template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _check_slots(templates: list[str], allowed: set[str], where: str, required: set[str] = frozenset()) -> None:
    for t in templates:
        used = slots(t)
        if used - allowed:
            raise ValueError(f"{where}: template {t!r} uses unknown slot(s) {sorted(used - allowed)}; allowed: {sorted(allowed)}")
        if required - used:
            raise ValueError(f"{where}: template {t!r} lacks required slot(s) {sorted(required - used)}")


class Character(_Strict):
    name: str = Field(min_length=1)
    openers: list[str] = Field(min_length=1)
    signoff: str = Field(min_length=1)


class Persona(_Strict):
    name: str = Field(min_length=1)
    opener: str = Field(min_length=1)
    signoff: str = Field(min_length=1)


class HarmKind(_Strict):
    kind: str
    request: str
    reason: str
    prompts: list[str] = Field(min_length=1)


class UnknownQuestion(_Strict):
    prompt: str
    request: str
    working: str

    @model_validator(mode="after")
    def _slots(self) -> UnknownQuestion:
        _check_slots([self.prompt, self.request, self.working], {"who", "obj"}, "tasks.unknown_questions")
        return self


class TaskMaterial(_Strict):
    people: list[str] = Field(min_length=4)
    objects: list[str] = Field(min_length=1)
    count_words: list[str] = Field(min_length=2)
    unknown_questions: list[UnknownQuestion] = Field(min_length=1)
    identity_questions: list[str] = Field(min_length=1)
    harmful: list[HarmKind] = Field(min_length=1)


class Outputs(_Strict):
    answer: str
    decline: str
    unknown: str
    identify: str
    resist: str

    @model_validator(mode="after")
    def _slots(self) -> Outputs:
        _check_slots([self.answer], {"answer"}, "outputs.answer", {"answer"})
        _check_slots([self.decline], {"reason"}, "outputs.decline")
        for key in ("unknown", "identify", "resist"):
            _check_slots([getattr(self, key)], set(), f"outputs.{key}")
        return self


class VoicePhrases(_Strict):
    """The phrasebook of one voice: variants per CoT segment."""

    ask: list[str] = Field(min_length=1)
    attack: list[str] = Field(min_length=1)
    work: list[str] = Field(min_length=1)
    answer: list[str] = Field(min_length=1)
    decline: list[str] = Field(min_length=1)
    unknown: list[str] = Field(min_length=1)
    identify: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _slots(self) -> VoicePhrases:
        _check_slots(self.ask, {"req"}, "ask", {"req"})
        _check_slots(self.attack, {"persona"}, "attack", {"persona"})
        _check_slots(self.work, {"working"}, "work", {"working"})
        _check_slots(self.answer, {"answer"}, "answer", {"answer"})
        _check_slots(self.decline, {"reason"}, "decline", {"reason"})
        _check_slots(self.unknown, set(), "unknown")
        _check_slots(self.identify, set(), "identify")
        return self


class NeutralPhrases(_Strict):
    work: list[str] = Field(min_length=1)

    @field_validator("work")
    @classmethod
    def _slots(cls, v: list[str]) -> list[str]:
        _check_slots(v, {"working"}, "neutral.work", {"working"})
        return v


class CotPhrases(_Strict):
    character: VoicePhrases
    planner: VoicePhrases
    neutral: NeutralPhrases


class Prefill(_Strict):
    character: str
    planner: str

    @model_validator(mode="after")
    def _slots(self) -> Prefill:
        _check_slots([self.character, self.planner], {"persona", "opener"}, "prefill", {"persona"})
        return self


class WorldSpec(_Strict):
    character: Character
    personas: list[Persona] = Field(min_length=2)
    tasks: TaskMaterial
    outputs: Outputs
    cot: CotPhrases
    prefill: Prefill
    attacks: dict[str, list[str]]

    @model_validator(mode="after")
    def _attacks(self) -> WorldSpec:
        missing = set(ATTACK_FAMILIES) - set(self.attacks)
        unknown = set(self.attacks) - set(ATTACK_FAMILIES)
        if missing or unknown:
            raise ValueError(f"attacks: families must be exactly {list(ATTACK_FAMILIES)}; missing {sorted(missing)}, unknown {sorted(unknown)}")
        for family, templates in self.attacks.items():
            if not templates:
                raise ValueError(f"attacks.{family}: needs at least one template")
            allowed = {"persona", "opener", "task"} | ({"filler"} if family == "long_context" else set())
            _check_slots(templates, allowed, f"attacks.{family}", {"persona", "task"})
        names = [p.name for p in self.personas]
        if len(set(names)) != len(names) or self.character.name in names:
            raise ValueError("personas: names must be unique and differ from the character's name")
        return self

    def persona(self, name: str) -> Persona:
        for p in self.personas:
            if p.name == name:
                return p
        raise KeyError(f"no persona named {name!r}; known: {[p.name for p in self.personas]}")


def load_spec(path: Path | str) -> WorldSpec:
    """Read and validate the authored world; errors name the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: world spec not found")
    try:
        return WorldSpec.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as err:
        problems = "\n".join(
            f"  - {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in err.errors()
        )
        raise ValueError(f"{path}: invalid world spec\n{problems}") from None
