"""The Explorer's training-recipe card: the regularization a variant's reference recipe uses, with sources.

One line (an expander's title) carries the four values and the weakest basis among them, so it reads
from the back of a room; opening it shows each value's basis, source and notes. Sources are printed as
code spans, not links: the Explorer carries no anchor off the app's origin.
"""
from __future__ import annotations

from functools import lru_cache

import streamlit as st

from core.network.counting import Profile
from core.network.families import BACKBONE_NAMES
from core.published.recipes import SETTINGS, TrainingRecipe, format_value, training_recipe

SHORT_NAMES = {"dropout": "dropout", "stochastic_depth": "stochastic depth", "weight_decay": "weight decay",
               "depthwise_weight_decay": "depthwise"}
BASIS_WORDS = {"published": "published", "rule": "by the sources' rules", "nearest": "partly nearest published"}


@lru_cache(maxsize=2048)  # not st.cache_resource: it inspects the signature on every call (ui/engine.py)
def cached_recipe(backbone: str, width: float, depth: float, resolution: int) -> TrainingRecipe:
    return training_recipe(backbone, width, depth, resolution)


def _cell(text: str) -> str:
    """Table-safe text (the data is the app's own; a pipe would still split a cell)."""
    return text.replace("|", "/")


def recipe_card(cost: Profile) -> None:
    """The recipe's values in one line; each value's basis, source and notes inside."""
    if cost.backbone not in BACKBONE_NAMES:
        st.caption("Training recipe: none published for a custom or per-stage network.",
                   help="The sources' recipes belong to the published families at uniform scaling.")
        return
    recipe = cached_recipe(cost.backbone, cost.width, cost.depth, cost.resolution)
    summary = " · ".join(f"{SHORT_NAMES[value.setting]} {format_value(value.value)}" for value in recipe.values)
    with st.expander(f"Training recipe ({BASIS_WORDS[recipe.basis]}): {summary}", icon=":material/school:"):
        rows = "\n".join(f"| {SETTINGS[value.setting]} | **{format_value(value.value)}** | {_cell(value.label)} |"
                         for value in recipe.values)
        st.markdown(f"| Setting | Value | Basis |\n|---|---|---|\n{rows}")
        st.caption("  \n".join(  # one caption: every element is a message on every slider move
            f"{SETTINGS[value.setting]}: {_cell(value.source)} `{value.url}`"
            + (f". {_cell(value.note)}." if value.note else "") for value in recipe.values)
            + "\n\nRegularization follows capacity: bigger models get more (EfficientNet's dropout rises from "
              "0.2 at B0 to 0.5 at B7), small ones less. Nothing is interpolated between presets: a variant "
              "no source covers shows its nearest published network's value, labelled as such.")
