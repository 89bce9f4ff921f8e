"""The one way a config reaches the Train page's settings widgets: `show(cfg)`, taken over by `apply()`.

Streamlit lets a script set a widget's value only before the widget is drawn in that script run. So whoever has
a config for the widgets (a preset, a task change, a restored bundle, another page's button) leaves it in the
tab's state, and the Train page puts it into its widgets at its top, before any of them. A widget callback runs
before the script, so its config is shown in the same run; code drawn after the widgets reruns the page.
"""
from __future__ import annotations

import streamlit as st

from ..config import RunConfig
from ..presets import PRESETS
from ..tasks import resolve_config
from .fields import widget_values
from .layout import TRAIN_PAGE
from .state import new_run, tab


def show(cfg: RunConfig) -> None:
    """Put cfg into the Train page's widgets at its next script run (this one, from a widget callback)."""
    tab().pending_config = cfg


def apply() -> None:
    """At the top of the Train page, before any widget: take over a config asked for by show()."""
    state = tab()
    if state.pending_config is not None:
        st.session_state.update(widget_values(state.pending_config))
        state.pending_config = None


def open_train_page(options: dict, start: bool = False) -> None:
    """From another page: open the Train page showing these flat options (over the task's defaults), and train them
    now if start. Raises ValueError for options no config accepts. Call it from a button's `if`, not from a callback
    (it switches pages)."""
    cfg = resolve_config(options)
    if start:
        new_run(cfg)
    show(cfg)
    # An empty address, not none: a bare switch_page clears it, which Streamlit refuses while the calling page has
    # widgets bound to it. The Train page's widgets then write their new values into it.
    st.switch_page(TRAIN_PAGE, query_params={})


def open_preset(key: str, start: bool = False) -> None:
    """open_train_page for a preset."""
    open_train_page(PRESETS[key].options, start)
