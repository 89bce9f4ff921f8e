"""Theory: the equations behind every page, each symbol explained, each linked to where it can be seen live."""
import streamlit as st

from rnnviz.curriculum import APPLICATIONS, THEORY_SECTIONS
from rnnviz.ui import curriculum
from rnnviz.ui.i18n import t

st.title(t("theory.title"))
st.markdown(t("theory.intro"))
contents, body = st.columns([1, 3.2], gap="large")
with contents:
    st.markdown("\n".join(f"- [{t(f'theory.{s.key}.title')}](#{s.key})" for s in THEORY_SECTIONS)
                + f"\n- [{t('theory.applications_title')}](#applications)")

with body:
    for section in THEORY_SECTIONS:
        st.header(t(f"theory.{section.key}.title"), anchor=section.key, divider="gray")
        st.markdown(t(f"theory.{section.key}.body"))
        for equation in section.equations:
            st.latex(equation)
        with st.expander(t("theory.symbols"), icon=":material/menu_book:"):
            st.markdown(t(f"theory.{section.key}.symbols"))
        curriculum.links(section.links, key=f"theory.{section.key}")

    st.header(t("theory.applications_title"), anchor="applications", divider="gray")
    st.markdown(t("theory.applications_intro"))
    st.markdown("\n".join(f"- {t(f'theory.app.{name}')}" for name in APPLICATIONS))
