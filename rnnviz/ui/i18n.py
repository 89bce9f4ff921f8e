"""Translations: page texts live in rnnviz/text/{lang}.toml, one file per language.

Keys are "section.name" (TOML tables and their keys). `t(key)` returns the text in the tab's
language, falling back to English; the language choice is bound to the URL (?lang=zh).
"""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

import streamlit as st

LANGUAGES = {"en": "English", "zh": "中文"}
TEXT_DIR = Path(__file__).resolve().parent.parent / "text"
LANG_KEY = "lang"


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


def language_switch() -> None:
    """A sidebar control whose value persists across pages and travels in the URL. The bound control writes
    its label (?lang=中文); a hand-written code (?lang=zh) is accepted on arrival too."""
    code = st.query_params.get(LANG_KEY)
    if code in LANGUAGES and LANG_KEY not in st.session_state:
        st.session_state[LANG_KEY] = code
    st.sidebar.segmented_control(
        "Language / 语言", list(LANGUAGES), format_func=LANGUAGES.get, key=LANG_KEY, default="en",
        bind="query-params", required=True)
