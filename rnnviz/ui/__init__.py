"""The only Streamlit glue in rnnviz: per-tab state, controls, the live training loop, translations."""
