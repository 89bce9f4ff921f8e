"""Pure figure builders: numpy arrays in, plotly Figure out; no state, no Streamlit.

    common    shared defaults and downsampling (float32, bucketed lines, pooled heatmaps)
    training  loss, gradient norm, comparison curves, task outputs (Train and Compare pages)
    inside    hidden states, gates, attention, gradients through time (Look inside pages)
    lab       the gradient lab and Pascanu's cliff (Learn pages)
"""
