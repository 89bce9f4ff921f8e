"""The one way a config reaches the Train page's settings widgets: `show(cfg)`, taken over by `apply()`.

Whoever has a config for the widgets (a preset, a task change, a restored bundle, another page's button) leaves it
in the tab's state, and the Train page puts it into its widgets at its top, before any of them. How depends on
whether the widgets are bound to the address yet. On the page (a widget callback, or code drawn after the widgets
that reruns the page) they are, and a value the script sets outranks the address. Arriving from another page they
are not, and a widget drawn before in the session reads an address without its parameter as its default, not the
script's value: so the config goes into the address, and the page reruns to read it.
"""
from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException

from ..config import RunConfig
from ..presets import PRESETS
from ..tasks import resolve_config
from .address import query_string
from .fields import widget_values
from .layout import TRAIN_PAGE
from .state import new_run, tab


def show(cfg: RunConfig) -> None:
    """Put cfg into the Train page's widgets at its next script run (this one, from a widget callback)."""
    tab().pending_config = cfg


def apply() -> None:
    """At the top of the Train page, before any widget: take over a config asked for by show()."""
    state = tab()
    if state.pending_config is None:
        return
    values = widget_values(state.pending_config)
    state.pending_config = None
    try:
        # Arriving: the widgets read the address (and drop from it what equals their default). Every setting, so
        # that the update is refused on the page, where the first setting is bound.
        st.query_params.update(query_string(values))
    except StreamlitAPIException:  # bound to the widgets already: the script's values outrank the address
        st.session_state.update(values)
        return
    st.rerun()


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
