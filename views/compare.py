"""Compare: the same task, seed and budget for RNN, LSTM, GRU and the transformer, side by side."""
import streamlit as st

from rnnviz.presets import PRESETS
from rnnviz.ui import compare
from rnnviz.ui.i18n import plain, t
from rnnviz.ui.presenter import HIDDEN_WHILE_PRESENTING
from rnnviz.ui.state import tab

running = bool(tab().compare)
# With runs, the intro goes behind the title's help and the experiment's choices fold away, so that on a 1280x720
# projector the loss chart is on the first screen.
st.title(t("compare.title"), help=t("compare.intro") if running else None)
if not running:
    st.markdown(t("compare.intro"))

with st.container(key=HIDDEN_WHILE_PRESENTING), st.expander(t("compare.settings"), expanded=not running,
                                                            icon=":material/tune:"):
    source = compare.source_picker()
    st.caption(t("compare.source_current") if source == compare.CURRENT else f"**{t(f'presets.{source}.title')}.** "
               f"{t(f'presets.{source}.description')}")
    cells = st.pills(t("compare.cells"), list(compare.CELLS), selection_mode="multi", default=compare.DEFAULT_CELLS,
                     key=compare.CELLS_KEY, bind="query-params")
    current = tab().trainer
    settings = PRESETS[source].config() if source in PRESETS else (current.cfg if current else None)
    if settings is None:
        st.error(t("compare.bad_train_settings"), icon=":material/error:")
    else:
        st.caption(t("compare.setting", task=t(f"tasks.{settings.task.name}.title"), seq_len=settings.task.seq_len,
                     hidden=settings.model.hidden, steps=settings.train.steps, seed=settings.train.seed))
start, buttons = st.columns([1, 3], vertical_alignment="bottom")  # one row, outside the settings a presenter hides
if start.button(t("compare.start"), type="primary", icon=":material/play_arrow:", disabled=settings is None or not cells,
                width="stretch"):
    try:
        compare.start(settings, cells)
        st.rerun()
    except ValueError as err:  # a cell these settings do not suit: the message names the option to change
        st.error(t("compare.refused", reason=plain(str(err))), icon=":material/error:")
with buttons:
    compare.buttons()
compare.live_view()
