"""Pure figure builders: numpy arrays in, plotly Figure out; no state, no Streamlit.

    common    shared defaults and downsampling (float32, bucketed lines), and what the Look-inside pages share:
              time axes, pooled time steps, the time x unit heatmap
    training  loss, gradient norm, comparison curves, task outputs (Train and Compare pages)
    hidden    hidden states: coloured text, unit ranking, PCA trajectories (Hidden states page)
    gates     gate saturation, a gate next to its gradient (Gates page)
    attention attention matrices and pooling weights (Attention page)
    gradients gradients through time and per parameter (Gradients page)
    lab       the gradient lab: gradient norms through time, the spectrum of W_hh (Learn pages)
    cliff     Pascanu's cliff: the loss map and the descent paths on it (the lab's cliff view)
"""
