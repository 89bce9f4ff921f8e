"""The page's look: room for the charts on a 1280x720 projector, and the presenter view (?present=1).

The presenter switch sits in the sidebar and is bound to the address, so it stays on across page switches and a
shared link opens in it. Presenting hides the settings (by CSS: their widgets stay on the page, so the run's settings
and the address keep their values), enlarges the type, darkens pale text, and draws every chart with larger type and
thicker lines (charts.chart applies figures.common.for_presenter).
"""
from __future__ import annotations

import streamlit as st

from .i18n import t

PRESENT_KEY = "present"
HIDDEN_WHILE_PRESENTING = "settings"  # the key of the container views wrap their settings in
COMPACT_STATUS = "run_status"  # the key of the container of a run's progress and metrics

# Always: less empty space above the title (Streamlit leaves 6rem), and a run's metrics in one compact row.
PAGE_CSS = f"""
[data-testid="stMainBlockContainer"] {{ padding-top: 1.5rem; padding-bottom: 2rem; }}
[data-testid="stMain"] h1 {{ padding-top: 0.25rem; }}
.st-key-{COMPACT_STATUS} [data-testid="stMetricValue"] {{ font-size: 1.6rem; line-height: 1.3; }}
.st-key-{COMPACT_STATUS} [data-testid="stMetric"] {{ padding: 0; }}
"""
# Presenting: settings hidden, larger type, and black instead of grey text.
PRESENTER_CSS = f"""
.st-key-{HIDDEN_WHILE_PRESENTING} {{ display: none; }}
html {{ font-size: 19px; }}
[data-testid="stMain"], [data-testid="stMain"] p, [data-testid="stMain"] label,
[data-testid="stCaptionContainer"], [data-testid="stMetricLabel"] {{ color: #000; }}
[data-testid="stMain"] h1 {{ font-size: 2.2rem; padding-bottom: 0.5rem; }}
"""


def requested() -> bool:
    """Whether this page run presents: the switch's value, or on arrival a hand-written ?present=1."""
    if PRESENT_KEY not in st.session_state and st.query_params.get(PRESENT_KEY) in ("1", "true"):
        st.session_state[PRESENT_KEY] = True
    return bool(st.session_state.get(PRESENT_KEY))


def presenting() -> bool:
    return bool(st.session_state.get(PRESENT_KEY))


def presenter_switch() -> None:
    """The sidebar's switch, bound to the address (?present=true), and the page's CSS for its state."""
    requested()
    st.sidebar.toggle(t("layout.present"), key=PRESENT_KEY, bind="query-params", help=t("layout.present_help"))
    st.html(f"<style>{PAGE_CSS}{PRESENTER_CSS if presenting() else ''}</style>")
