"""The Train page's Ready-made experiment box: it names the preset the settings are, or says they are custom.

Picking a preset puts its settings into the widgets (pending.show); changing a setting by hand makes the box say
custom. So the box, the settings and the run they trained never disagree.
"""
from __future__ import annotations

import streamlit as st

from ..config import RunConfig
from ..presets import PRESETS
from .i18n import t
from .pending import show

CUSTOM = "custom"
BOX = "preset_choice"  # the box's widget key
_CONFIGS = {key: preset.config() for key, preset in PRESETS.items()}


def matching(cfg: RunConfig | None, picked: str | None = None) -> str:
    """The preset whose settings cfg is (picked, where several are: attention_t50 trains vanishing_lstm's settings on
    the Train page), or CUSTOM (also for settings that make no config)."""
    if picked in _CONFIGS and _CONFIGS[picked] == cfg:
        return picked
    return next((key for key, preset_cfg in _CONFIGS.items() if preset_cfg == cfg), CUSTOM)


def _title(key: str) -> str:
    return t("presets.custom") if key == CUSTOM else t(f"presets.{key}.title")


def _picked() -> None:
    key = st.session_state[BOX]
    if key != CUSTOM:
        show(_CONFIGS[key])


def preset_box(cfg: RunConfig | None) -> None:
    """The box, showing the preset the current settings (cfg) are, and what it shows."""
    st.session_state[BOX] = matching(cfg, st.session_state.get(BOX))
    key = st.selectbox(t("presets.pick"), [CUSTOM, *PRESETS], format_func=_title, key=BOX, on_change=_picked,
                       help=t("presets.pick_help"))
    st.caption(t("presets.custom_description") if key == CUSTOM else t(f"presets.{key}.description"))
