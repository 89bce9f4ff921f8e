"""The Train page's address: settings arrive in it (a shared link) and leave in it (the share link).

Every settings widget is bound to the address under its key (rnnviz.ui.fields). A value there that its widget
cannot take is refused here, before any widget reads it, and said above the settings.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitAPIException

from .fields import DEFAULTS, SETTINGS
from .i18n import plain, t
from .state import tab

URL_REFUSED = "rnnviz_url_refused"  # session state: {setting: (value, what it accepts)} refused from the address


def query_string(values: dict) -> dict[str, str]:
    """Settings' values as address parameters, in the form Streamlit reads back into bound widgets."""
    return {k: ("true" if v else "false") if isinstance(v, bool) else _number_text(v) if isinstance(v, float) else str(v)
            for k, v in values.items() if v != ""}


def _number_text(value: float) -> str:
    """A number as the browser writes a bound number widget's value into the address: 64, not 64.0."""
    return str(int(value)) if value.is_integer() else repr(value)


def _url_refusals() -> dict[str, tuple[str, str]]:
    """The settings whose value in the page's address their widget cannot take: {key: (value, accepted)}."""
    return {key: (raw, SETTINGS[key].accepted()) for key, raw in st.query_params.to_dict().items()
            if key in SETTINGS and not SETTINGS[key].accepts(raw)}


def refuse_bad_url_values() -> None:
    """Before the settings widgets: a value in the page's address that a widget cannot take is taken out of the
    address, so that no widget reads it, and said above the settings. A widget bound to the address reads it
    itself when the tab opens, and Streamlit's number input raises OverflowError on an integer setting given
    ?hidden=1e309 (other bad values it ignores without a word). A value the script sets outranks the address once the
    widget is bound (a tab reloaded into its old session); before that, only a run without it in the address does.
    A bound widget's value in the address is its own, typed on this page: its widget says what is wrong with it."""
    refused = _url_refusals()
    if not refused:
        return
    arrived = {}
    for key, why in refused.items():
        try:
            del st.query_params[key]
            arrived[key] = why
        except StreamlitAPIException:  # bound to its widget already
            st.session_state[key] = st.session_state.get(key, DEFAULTS[key])
    if arrived:
        st.session_state[URL_REFUSED] = {**st.session_state.get(URL_REFUSED, {}), **arrived}
        st.rerun()


def say_url_refusals() -> None:
    """Above the settings, full width (in a half column the words break apart, "accepte d:"): each value from the
    page's address that a setting refused (see refuse_bad_url_values), once."""
    for key, (value, accepted) in st.session_state.pop(URL_REFUSED, {}).items():
        st.warning(t("controls.url_refused", name=key, value=plain(value), accepted=accepted), icon=":material/link_off:")


def changed_query(values: dict) -> dict[str, str]:
    """The address parameters of the settings' values that differ from their defaults (bound widgets drop the rest)."""
    return {k: v for k, v in query_string(values).items() if v != query_string({k: DEFAULTS[k]}).get(k)}


def share_link() -> str:
    """The Train page's address with every setting that differs from its default, as the browser shows it."""
    changed = changed_query({k: st.session_state.get(k, v) for k, v in DEFAULTS.items()})
    base = (st.context.url or "").rstrip("/")  # the Train page, the default one, lives at the app's root
    return f"{base}/?{urlencode(changed)}" if changed else f"{base}/"


def share_note(task: str) -> str | None:
    """What a share link leaves out: the user's own file the settings train on (by its name), or None."""
    data = tab().data_for(task)
    return t("train.share_no_file", name=plain(Path(data[0]).name)) if data is not None else None
