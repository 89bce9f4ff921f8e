"""Train: pick a task and a cell (or a ready-made experiment), press Train, watch it learn."""
import streamlit as st

from rnnviz.ui import address, controls, files, pending, preset_box, run_view
from rnnviz.ui.i18n import t
from rnnviz.ui.state import tab

st.title(t("train.title"))
st.markdown(t("train.intro"))

pending.apply()
box = st.container()  # drawn after the settings, whose config it names, but shown above them
trainer = tab().trainer
with st.expander(t("train.settings"), expanded=trainer is None, icon=":material/tune:"):
    controls.settings()
    files.data_upload(st.session_state["task"], int(st.session_state["seq_len"]))
settings = controls.current_settings()
with box:
    preset_box.preset_box(settings.config)
if trainer is not None and settings.config is not None and settings.config != trainer.cfg:
    st.caption(t("train.settings_changed", changes=controls.describe_changes(trainer.cfg, settings.config)))

run_view.run_buttons(settings.config, settings.error)
run_view.live_view()

st.divider()
share, save, restore = st.columns(3, gap="large")
with share:
    st.markdown(f"**{t('train.share_title')}**")
    st.caption(t("train.share_help"))
    st.code(address.share_link(), language=None, wrap_lines=True)
    note = address.share_note(st.session_state["task"])
    if note:
        st.caption(note)
with save:
    st.markdown(f"**{t('train.save_title')}**")
    files.bundle_download()
with restore:
    if files.bundle_upload():
        pending.show(tab().trainer.cfg)
        st.rerun()
    files.restore_confirmation()
