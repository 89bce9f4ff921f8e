"""Train: pick a task and a cell (or a ready-made experiment), press Train, watch it learn."""
import streamlit as st

from rnnviz.ui import controls, files, run_view
from rnnviz.ui.i18n import t
from rnnviz.ui.presenter import HIDDEN_WHILE_PRESENTING
from rnnviz.ui.state import tab

trainer = tab().trainer
# With a run, everything but the run's buttons, numbers and charts folds away, so that on a 1280x720 projector the
# charts are on the first screen: the intro behind the title's help, the ready-made experiments inside Settings.
st.title(t("train.title"), help=t("train.intro") if trainer is not None else None)
if trainer is None:
    st.markdown(t("train.intro"))

controls.apply_pending()
with st.container(key=HIDDEN_WHILE_PRESENTING):
    if trainer is None:
        controls.preset_picker()
    with st.expander(t("train.settings"), expanded=trainer is None, icon=":material/tune:"):
        if trainer is not None:
            controls.preset_picker()
        controls.settings()
        files.data_upload(st.session_state["task"], int(st.session_state["seq_len"]))
    settings = controls.current_settings()
    if trainer is not None and settings.config is not None and settings.config != trainer.cfg:
        st.caption(t("train.settings_changed", changes=controls.describe_changes(trainer.cfg, settings.config)))

run_view.run_buttons(settings.config, settings.error)
run_view.live_view()

st.divider()
share, save, restore = st.columns(3, gap="large")
with share:
    st.markdown(f"**{t('train.share_title')}**")
    st.caption(t("train.share_help"))
    st.code(controls.share_link(), language=None, wrap_lines=True)
with save:
    st.markdown(f"**{t('train.save_title')}**")
    files.bundle_download()
with restore:
    if files.bundle_upload():
        controls.show_later(tab().trainer.cfg)
