"""The page's look: room for the charts on a 1280x720 projector, and the presenter view (?present=1).

The presenter switch sits in the sidebar and is kept in the address (?present=1), so it stays on across page switches
and a shared link opens in it. Presenting hides the settings (by CSS: their widgets stay on the page, so the run's settings
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
# Presenting: settings hidden, larger and black instead of grey text. (Not a larger root font: the header, sized in
# rem, would grow and cover the title.)
PRESENTER_CSS = f"""
.st-key-{HIDDEN_WHILE_PRESENTING} {{ display: none; }}
[data-testid="stMainBlockContainer"] {{ padding-top: 3.5rem; }}  /* below the header's button that opens the sidebar */
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p, [data-testid="stMain"] li {{ font-size: 1.2rem; }}
[data-testid="stMain"], [data-testid="stMain"] p, [data-testid="stMain"] label,
[data-testid="stCaptionContainer"], [data-testid="stMetricLabel"] {{ color: #000; }}
.st-key-{COMPACT_STATUS} [data-testid="stMetricValue"] {{ font-size: 2rem; }}
[data-testid="stMain"] h1 {{ font-size: 2rem; padding: 0.5rem 0 0.25rem 0; }}
"""


def requested() -> bool:
    """Whether this page run presents: the switch's value, or on arrival the address's ?present=1."""
    if PRESENT_KEY not in st.session_state:
        st.session_state[PRESENT_KEY] = st.query_params.get(PRESENT_KEY) in ("1", "true")
    return presenting()


def presenting() -> bool:
    return bool(st.session_state.get(PRESENT_KEY))


def presenter_switch() -> None:
    """The sidebar's switch and the page's CSS for its state. The switch writes ?present=1 into the address on every
    page run (not Streamlit's bind, whose toggle reads only ?present=true and drops a hand-written 1), so the address
    keeps it across page switches, which start from a page's bare address."""
    requested()
    st.sidebar.toggle(t("layout.present"), key=PRESENT_KEY, help=t("layout.present_help"))
    if presenting():
        st.query_params[PRESENT_KEY] = "1"
    elif PRESENT_KEY in st.query_params:
        del st.query_params[PRESENT_KEY]
    st.html(f"<style>{PAGE_CSS}{PRESENTER_CSS if presenting() else ''}</style>")
