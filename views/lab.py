"""Gradient lab: move a slider, see at once how the gradient shrinks or grows through time; no training."""
import streamlit as st

from rnnviz.ui import cliff, lab
from rnnviz.ui.i18n import t

st.title(t("lab.title"))
st.markdown(t("lab.intro"))
view = lab.view_picker()
controls, output = st.columns([1, 2.6], gap="large")

if view == "cliff":
    with controls:
        st.markdown(t("lab.cliff_intro"))
        settings = cliff.controls()
    with output:
        cliff.view(settings)
    st.stop()

with controls:
    settings = lab.rnn_controls() if view == "rnn" else lab.lstm_controls()
result = (lab.rnn_result(**settings) if view == "rnn" else lab.lstm_result(**settings))
with output:
    lab.regime(result, settings["seq_len"])
    lab.figures(result)
with controls:
    st.divider()
    lab.train_this(view, settings)
