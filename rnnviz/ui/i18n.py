"""Translations: page texts live in rnnviz/text/{lang}.toml, one file per language.

Keys are "section.name" (TOML tables and their keys). `t(key)` returns the text in the tab's
language, falling back to English; the language choice is bound to the URL (?lang=zh).

Texts are markdown, and Streamlit renders markdown (and plotly its own HTML subset) wherever a text is
shown: an alert, a caption, a label, a chart title. So anything a user typed or sent (a value from the
page's address, a file name, a CSV header, a field of an uploaded bundle, a message quoting one) goes
through `plain()` before it is shown or filled into a text.
"""
from __future__ import annotations

import re
import string
import tomllib
from functools import lru_cache
from pathlib import Path

import streamlit as st

LANGUAGES = {"en": "English", "zh": "中文"}
TEXT_DIR = Path(__file__).resolve().parent.parent / "text"
LANG_KEY = "lang"
MARKUP = frozenset(string.punctuation)  # ASCII punctuation: the only characters markdown or HTML read as markup
# Where markdown makes a link of plain text (GFM autolinks: "https://...", "www.x", "a@b.c"): a word joiner there
# (U+2060, invisible) keeps the text as it reads but no longer a link.
AUTOLINK = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)", re.IGNORECASE)


@lru_cache(maxsize=None)
def texts(lang: str) -> dict[str, str]:
    """All texts of one language, flattened to "section.name" keys."""
    with open(TEXT_DIR / f"{lang}.toml", "rb") as f:
        data = tomllib.load(f)
    flat: dict[str, str] = {}

    def walk(prefix: str, node) -> None:
        for k, v in node.items():
            if isinstance(v, dict):
                walk(f"{prefix}{k}.", v)
            else:
                flat[f"{prefix}{k}"] = v

    walk("", data)
    return flat


def lang() -> str:
    value = st.session_state.get(LANG_KEY, "en")
    return value if value in LANGUAGES else "en"


def t(key: str, **values) -> str:
    """The text for key in the tab's language (English if missing), with {name} fields filled in."""
    text = texts(lang()).get(key) or texts("en").get(key)
    if text is None:
        raise KeyError(f"no text for {key!r} in {TEXT_DIR}")
    return text.format(**values) if values else text


def fig_labels(table: str) -> dict[str, str]:
    """A figure module's axis titles and legend names (the text files' table `table`, e.g. "inspect.fig") in the
    tab's language, under the keys its builders read (the English table's)."""
    prefix = f"{table}."
    return {key[len(prefix):]: t(key) for key in texts("en") if key.startswith(prefix)}


def plain(text) -> str:
    """User text made inert wherever it is shown: every ASCII punctuation character becomes a numeric character
    reference ("[" -> "&#91;"). Markdown and plotly's labels both show such a reference as the character itself and
    never read it as markup, so a file named "![x](https://example.invalid/x.png)" shows that name instead of making
    the browser fetch the image, and a CSV header "<a href=...>" stays text in a chart title. A web or mail address
    in it is not made a link either (see AUTOLINK)."""
    return "".join(f"&#{ord(c)};" if c in MARKUP else c for c in AUTOLINK.sub("\u2060", str(text)))


def language_switch() -> None:
    """A sidebar control whose value persists across pages and travels in the URL. The bound control writes
    its label (?lang=中文); a hand-written code (?lang=zh) is accepted on arrival too."""
    code = st.query_params.get(LANG_KEY)
    if code in LANGUAGES and LANG_KEY not in st.session_state:
        st.session_state[LANG_KEY] = code
    st.sidebar.segmented_control(
        "Language / 语言", list(LANGUAGES), format_func=LANGUAGES.get, key=LANG_KEY, default="en",
        bind="query-params", required=True)
