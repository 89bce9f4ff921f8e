"""rnnviz: train small RNN / LSTM / GRU models and look inside them. `rnnviz.trace(module, x, ...)` records
the Trace of your own torch.nn recurrent layer (rnnviz/notebook.py)."""

__all__ = ["trace"]


def __getattr__(name: str):
    # Imported when first asked for, so that `import rnnviz.config` (or the app's text) does not load torch.
    if name == "trace":
        from .notebook import trace

        return trace
    raise AttributeError(f"module 'rnnviz' has no attribute {name!r}")
