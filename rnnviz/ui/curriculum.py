"""What the Theory and Lessons pages (rnnviz.curriculum) share: buttons that load a preset (and train it, alone or side by
side) and links to the page where an effect shows, with the lab's settings in the address."""
from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException

from ..curriculum import Link
from .compare import start_compare
from .pending import open_preset
from .i18n import LANG_KEY, t
from .layout import page_file

LESSON_KEYS = ("lesson", "step")  # the Lessons page's widgets, bound to its address
LESSON_AT = "rnnviz_lesson_at"  # session state: the (lesson, step) the Lessons page last showed


def lab_params(settings: dict) -> dict[str, str]:
    """Lab settings as address parameters, written the way the lab's widgets read them back (str(0.25))."""
    return {k: str(v) for k, v in settings.items()}


def preset_button(preset: str, action: str, key: str, primary: bool = False) -> None:
    """Load a preset on the Train page and train it ("train"), only load it ("load"), or train its cells
    side by side on the Compare page ("compare"). Each switches to that page."""
    title = t(f"presets.{preset}.title")
    label = t("theory.compare_preset" if action == "compare" else "theory.train_preset", preset=title)
    icon = ":material/compare_arrows:" if action == "compare" else ":material/play_arrow:"
    if st.button(label, key=key, icon=icon, type="primary" if primary else "secondary"):
        if action == "compare":
            start_compare(preset)
        else:
            open_preset(preset, start=action == "train")


def page_link(page: str, lab: dict | None = None) -> None:
    st.page_link(page_file(page), label=t("theory.open_page", page=t(f"nav.{page}")), icon=":material/arrow_forward:",
                 query_params=lab_params(lab) if lab else None)


def links(items: tuple[Link, ...], key: str) -> None:
    """A row of "see it live" buttons and links under a theory section."""
    st.markdown(f"**{t('theory.see_live')}**")
    for k, link in enumerate(items):
        if link.preset and link.page in ("train", "compare"):
            preset_button(link.preset, "compare" if link.page == "compare" else "train", f"{key}.{k}")
        elif link.preset:  # train it, then look at it on its page
            left, right = st.columns([3, 2], vertical_alignment="center")
            with left:
                preset_button(link.preset, "train", f"{key}.{k}")
            with right:
                page_link(link.page)
        else:
            page_link(link.page, link.lab)


def return_to_lesson() -> None:
    """Before the Lessons page's widgets: arriving with no lesson or step in the address (the browser's Back from a
    page a step linked to, where Streamlit keeps that page's parameters instead), show the step last shown, and
    take the other page's parameters (?view=cliff) out of the address. The step goes into the address, not into
    the widgets' state: a bound widget that has been drawn before reads an address without it as its default."""
    for key in [k for k in st.query_params if k not in (*LESSON_KEYS, LANG_KEY)]:
        del st.query_params[key]
    last = st.session_state.get(LESSON_AT, (1, 1))
    if last == (1, 1) or any(k in st.query_params for k in LESSON_KEYS):
        return
    try:
        st.query_params.update({k: str(v) for k, v in zip(LESSON_KEYS, last)})
    except StreamlitAPIException:  # bound to the widgets already: not an arrival, the page shows its own step
        return
    st.rerun()


def remember_lesson() -> None:
    """After the lesson or step changes (in its widget's callback, so before return_to_lesson reads it)."""
    st.session_state[LESSON_AT] = tuple(st.session_state[k] for k in LESSON_KEYS)
