"""rnnviz: watch recurrent networks learn. Run with `streamlit run app.py`."""
import streamlit as st

from rnnviz.ui import layout

st.set_page_config(page_title="rnnviz", page_icon=":material/cyclone:", layout="wide")
navigation = st.navigation(layout.pages())
layout.sidebar()
navigation.run()
