"""Files in and out of the Train page: the user's data for charlm / sine, and run bundles.

Uploads are written into the tab's own temporary folder (deleted with the session) and checked by
building the task from them, so a bad file gives the task's own message naming the problem, and the
current run is never touched by a failed upload.
"""
from __future__ import annotations

import hashlib

import streamlit as st

from ..config import LIMITS, TaskConfig
from ..runs import RunFileError, bundle_bytes, extract_bundle, load_run, restore_trainer
from ..tasks import make_task, task_class
from ..tasks.sine import numeric_columns
from . import budget
from .i18n import t
from .state import release, tab

PREVIEW_CHARS = 600


def data_upload(task_name: str, seq_len: int) -> None:
    """For tasks that read a file: an uploader, a preview, and the choice to train on it."""
    kind = task_class(task_name).takes_data
    if kind is None:
        return
    state = tab()
    limit = LIMITS["text_bytes" if kind == "text" else "csv_bytes"][1]
    upload = st.file_uploader(t(f"files.upload_{kind}", mb=limit / 1e6), type=["txt", "md", "py"] if kind == "text" else ["csv"],
                              key=f"upload_{task_name}", help=t("files.upload_help"))
    if upload is None:
        if state.data.pop(task_name, None) is not None:
            st.rerun()  # the file was removed: the settings go back to generated data
        st.caption(t(f"files.generated_{kind}"))
        return
    raw = upload.getvalue()
    if len(raw) > limit:  # refused before it is written into the tab's folder
        _refuse(task_name, t("files.too_big", name=upload.name, size=f"{len(raw):,}", limit=f"{limit:,}"))
        return
    # One folder per content, so the file keeps the user's name: the tasks' messages name files by it.
    path = state.folder() / hashlib.sha1(raw).hexdigest()[:12] / _safe_name(upload.name)
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(raw)
    column = None
    if kind == "csv":
        try:
            columns = numeric_columns(str(path))
        except ValueError as err:
            _refuse(task_name, err)
            return
        column = st.selectbox(t("files.column"), columns, key=f"column_{task_name}") if columns else None
    try:
        task = make_task(TaskConfig(task_name, seq_len, data=str(path), column=column))
    except ValueError as err:
        _refuse(task_name, err)
        return
    state.data[task_name] = (str(path), column)
    st.success(t(f"files.accepted_{kind}", name=upload.name, baseline=f"{task.baseline_loss:.4g}"), icon=":material/check:")
    with st.expander(t("files.preview")):
        st.code(raw[:PREVIEW_CHARS].decode("utf-8", errors="replace"), language=None)


def _refuse(task_name: str, err) -> None:
    tab().data.pop(task_name, None)
    st.error(t("files.refused", error=err), icon=":material/error:")


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[-60:]


def bundle_download() -> None:
    """Download the tab's run as a zip (run.json + model.safetensors ...), built only when clicked."""
    trainer = tab().trainer
    if trainer is None:
        return

    def build() -> bytes:
        with trainer.held():  # between two steps, so weights, optimizer and history agree
            return bundle_bytes(trainer)

    name = f"rnnviz-{trainer.cfg.task.name}-{trainer.cfg.model.cell}-step{trainer.step}.zip"
    st.download_button(t("files.download_run"), data=build, file_name=name, mime="application/zip",
                       icon=":material/download:", on_click="ignore", help=t("files.download_help"))


def bundle_upload() -> bool:
    """Restore a run from an uploaded bundle into this tab (paused, ready to look at or train on).
    Returns True when a new run was restored in this script run."""
    upload = st.file_uploader(t("files.upload_run"), type=["zip"], key="upload_run", help=t("files.upload_run_help"))
    state = tab()
    if upload is None or state.restored_upload == upload.file_id:
        return False
    state.restored_upload = upload.file_id  # once per upload, not on every rerun
    try:
        directory = extract_bundle(upload.getvalue(), state.folder() / f"run-{upload.file_id[:8]}")
        saved = load_run(directory)
        budget.check_config(saved.config)  # a bundle's config is as hostile as a URL's: refused before it is built
        trainer = restore_trainer(saved)
    except (RunFileError, ValueError, OSError) as err:
        st.error(t("files.bad_run", error=err), icon=":material/error:")
        return False
    release(state.trainer)
    state.trainer = trainer
    st.success(t("files.restored", step=trainer.step, task=trainer.cfg.task.name, cell=trainer.cfg.model.cell))
    return True
