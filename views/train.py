"""Train: pick a task and a cell (or a ready-made experiment), press Train, watch it learn."""
import streamlit as st

from rnnviz.ui import address, controls, files, pending, preset_box, run_view
from rnnviz.ui.i18n import t
from rnnviz.ui.presenter import HIDDEN_WHILE_PRESENTING
from rnnviz.ui.state import tab

trainer = tab().trainer
# With a run, everything but the run's buttons, numbers and charts folds away, so that on a 1280x720 projector the
# charts are on the first screen: the intro behind the title's help, the ready-made experiments inside Settings.
st.title(t("train.title"), help=t("train.intro") if trainer is not None else None)
if trainer is None:
    st.markdown(t("train.intro"))

pending.apply()
with st.container(key=HIDDEN_WHILE_PRESENTING):
    # The ready-made experiment box is drawn after the settings, whose config it names, but shown above them: above
    # the folded Settings before a run, inside them once one exists.
    box = st.container()
    with st.expander(t("train.settings"), expanded=trainer is None, icon=":material/tune:"):
        if trainer is not None:
            box = st.container()
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
