"""The maths behind the Learn pages, in plain numpy (and torch where a real model is read):

    jacobians  spectra, the step Jacobians ∂s_t/∂s_{t-1} of RNN, LSTM and GRU, and the norms of their products
    lab        the gradient lab: a random RNN or LSTM setting, its gradient norms through time and its regime
    cliff      Pascanu's cliff: one unit's loss surface, gradient descent on it with and without clipping
"""
