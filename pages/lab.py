"""Placeholder while the page is being built."""
import streamlit as st

from rnnviz.ui.i18n import t

st.title(t("nav.lab"))
