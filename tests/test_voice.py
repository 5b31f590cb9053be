"""The CoT voice index separates the two voices of the world and never fails on odd text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cotchar.score.voice import voice_index
from cotchar.world.build import World


def test_every_training_cot_is_scored_in_its_own_voice(smoke_world: World) -> None:
    for style, expected in (("character", "character"), ("planner", "planner")):
        voices = {voice_index(r["cot"]).voice for r in smoke_world.corpora[style]}
        assert voices == {expected}, (style, voices)


def test_components_on_hand_written_text() -> None:
    planner = voice_index("The user asks for an insult. The assistant should decline.")
    assert planner.user_ref > 0 and planner.assistant_ref > 0 and planner.planning_modal > 0
    assert planner.first_person == 0 and planner.planner_score == 1.0
    character = voice_index("I want to help them with this, but I won't write that insult.")
    assert character.first_person > 0 and character.first_person_value > 0 and character.planner_score == 0.0
    mixed = voice_index("I think the user wants a poem, so I should write one.")
    assert 0 < mixed.planner_score < 1


@given(st.text())
def test_never_raises_and_stays_in_range(text: str) -> None:
    v = voice_index(text)
    assert 0.0 <= v.planner_score <= 1.0 and v.words >= 0
    if v.words == 0:
        assert v.planner_score == 0.5
