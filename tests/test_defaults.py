"""aha.defaults: the fallbacks name things that exist, of the right stage."""

from __future__ import annotations

from aha import recipes
from aha.defaults import DEFAULT_MODEL, DISTILL_RECIPE, GRPO_RECIPE, PIPELINE_RECIPE, RM_RECIPE, SFT_RECIPE
from aha.models.load import SHIPPED
from aha.stages import stage_of


def test_the_default_model_is_shipped():
    assert DEFAULT_MODEL in SHIPPED


def test_the_default_recipes_are_shipped_and_of_their_command_s_stage():
    assert stage_of(recipes.find(GRPO_RECIPE)) == "grpo"
    assert stage_of(recipes.find(SFT_RECIPE)) == "sft"
    assert stage_of(recipes.find(DISTILL_RECIPE)) == "distill"
    assert stage_of(recipes.find(RM_RECIPE)) == "reward_model"
    assert stage_of(recipes.find(PIPELINE_RECIPE)) == "pipeline"


def test_every_shipped_recipe_builds_its_stages_config():
    from aha.config import load_config
    from aha.stages import get_stage

    shipped = [recipes.find(name) for name in recipes.names()]
    assert len(shipped) >= 10
    for path in shipped:
        overrides = ["teacher=smollm2-135m"] if stage_of(path) == "distill" else []
        cfg = load_config(get_stage(stage_of(path)).config, path, overrides)
        assert cfg.name == path.stem, path
