"""aha.defaults: the fallbacks name things that exist, of the right stage."""

from __future__ import annotations

from aha import recipes
from aha.defaults import DEFAULT_MODEL, GRPO_RECIPE, SFT_RECIPE
from aha.models.load import SHIPPED
from aha.stages import stage_of


def test_the_default_model_is_shipped():
    assert DEFAULT_MODEL in SHIPPED


def test_the_default_recipes_are_shipped_and_of_their_command_s_stage():
    assert stage_of(recipes.find(GRPO_RECIPE)) == "grpo"
    assert stage_of(recipes.find(SFT_RECIPE)) == "sft"
