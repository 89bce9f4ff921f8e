"""rnnviz: watch recurrent networks learn. Run with `streamlit run app.py`."""
import os

# Before torch loads: threads that draw pages run torch on one thread, so only trainers keep OpenMP teams (each sets
# its own share; see rnnviz/threads.py for why another thread's team halves a trainer's speed).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import streamlit as st

from rnnviz.ui import layout, presenter

st.set_page_config(page_title="rnnviz", page_icon=":material/cyclone:", layout="wide",
                   initial_sidebar_state="collapsed" if presenter.requested() else "auto")  # presenting: room for charts
navigation = st.navigation(layout.pages())
layout.sidebar()
navigation.run()
