"""Pure figure builders: numpy arrays in, plotly Figure out; no state, no Streamlit.

    common    shared defaults and downsampling (float32, bucketed lines, pooled heatmaps)
    training  loss, gradient norm, comparison curves, task outputs (Train and Compare pages)
    inside    hidden states, gates, attention, gradients through time (Look inside pages)
    lab       the gradient lab: gradient norms through time, the spectrum of W_hh (Learn pages)
    cliff     Pascanu's cliff: the loss map and the descent paths on it (the lab's cliff view)
"""
