"""Files in and out of the Train page: the user's data for charlm / sine, and run bundles.

Uploads are written into the tab's own temporary folder (deleted with the session) and checked by
building the task from them, so a bad file gives the task's own message naming the problem, and the
current run is never touched by a failed upload. Each upload is stored and read once (keyed by its
Streamlit file id, in the tab's state), not on every rerun of the page; a file is written under a
temporary name and renamed when complete, so a full disk never leaves a truncated file to train on.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import math
import os
import tempfile
from pathlib import Path

import streamlit as st

from ..background import BackgroundRun
from ..config import LIMITS, TaskConfig
from ..report import report_html
from ..runs import MAX_BUNDLE_BYTES, RunFileError, bundle_bytes, extract_bundle, load_run, restore_trainer
from ..tasks import make_task, task_class
from ..tasks.sine import numeric_columns
from . import budget
from .i18n import plain, t
from .lifecycle import app_run
from .state import TAB_DISK_BYTES, TabState, Upload, release, tab

PREVIEW_CHARS = 600
_LOG = logging.getLogger(__name__)


def uploader(label: str, types: list[str], key: str, limit_bytes: int, help: str):
    """st.file_uploader that refuses files over limit_bytes in the browser already, its drop zone in the reader's
    language. Streamlit writes the drop zone's button ("Upload") and its line ("200MB per file • CSV", from
    server.maxUploadSize) in English whatever the page's language, and has no parameter for either; this page's CSS
    puts our texts in their place, through the uploader's key class (st-key-<key>)."""
    # Streamlit's megabytes are MiB: rounding up leaves every file the app accepts to the app's own check and message
    mb = math.ceil(limit_bytes / 2**20)
    limit = t("files.drop_limit", mb=mb, types=", ".join(kind.upper() for kind in types))
    zone = f".st-key-{key} [data-testid='stFileUploaderDropzone']"
    st.html(f"""<style>
{zone} [data-testid='stFileUploaderDropzoneInstructions'] span {{ font-size: 0; }}
{zone} [data-testid='stFileUploaderDropzoneInstructions'] span::after {{ content: {_css_string(limit)}; font-size: 0.875rem; }}
{zone} button [data-testid='stMarkdownContainer'] p {{ font-size: 0; }}
{zone} button [data-testid='stMarkdownContainer'] p::after {{ content: {_css_string(t('files.drop_button'))}; font-size: 1rem; }}
</style>""")
    return st.file_uploader(label, type=types, key=key, help=help, max_upload_size=mb)


def _css_string(text: str) -> str:
    """text as a CSS string literal: quotes, backslashes and line ends escaped, so it cannot end the rule."""
    return '"' + "".join(f"\\{ord(c):x} " if c in '"\\\n<>' else c for c in text) + '"'


def data_upload(task_name: str, seq_len: int) -> None:
    """For tasks that read a file: an uploader, a preview, and the choice to train on it."""
    kind = task_class(task_name).takes_data
    if kind is None:
        return
    state = tab()
    limit = LIMITS["text_bytes" if kind == "text" else "csv_bytes"][1]
    upload = uploader(t(f"files.upload_{kind}", mb=limit / 1e6), ["txt", "md", "py"] if kind == "text" else ["csv"],
                      f"upload_{task_name}", limit, help=t("files.upload_help"))
    if upload is None:
        if state.uploads.pop(task_name, None) is not None:
            state.prune()  # the removed file, unless a run of this tab was trained on it
            if state.data.pop(task_name, None) is not None:
                st.rerun()  # the file was removed: the settings go back to generated data
        data = state.data_for(task_name)  # a restored run's own file, when it was trained on one
        st.caption(t("files.restored_data", name=plain(Path(data[0]).name)) if data else t(f"files.generated_{kind}"))
        return
    stored = state.uploads.get(task_name)
    if stored is None or stored.file_id != upload.file_id:
        stored = _store(state, task_name, upload, kind, limit)
    if stored.error is not None:
        _refuse(task_name, stored.error)
        return
    column = st.selectbox(t("files.column"), stored.columns, key=f"column_{task_name}") if stored.columns else None
    outcome = _check(state, stored, TaskConfig(task_name, seq_len, data=stored.path, column=column))
    if isinstance(outcome, str):
        _refuse(task_name, outcome)
        return
    state.data[task_name] = (stored.path, column)
    st.success(t(f"files.accepted_{kind}", name=plain(upload.name), baseline=f"{outcome:.4g}"), icon=":material/check:")
    with st.expander(t("files.preview")):
        st.code(upload.getvalue()[:PREVIEW_CHARS].decode("utf-8", errors="replace"), language=None)


def _store(state: TabState, task_name: str, upload, kind: str, limit: int) -> Upload:
    """A new file in the uploader: the one it replaces goes (unless a run of this tab was trained on it), and this
    one is stored, within the tab's disk share, and read for its columns. Returns its record, kept in the tab."""
    state.uploads.pop(task_name, None)
    state.data.pop(task_name, None)
    state.prune()
    stored = state.uploads[task_name] = Upload(upload.file_id)
    name, raw = upload.name, upload.getvalue()
    if len(raw) > limit:  # refused before it is written into the tab's folder
        stored.error = t("files.too_big", name=plain(name), size=f"{len(raw):,}", limit=f"{limit:,}")
        return stored
    stored.error = _over_share(state, name, len(raw))
    if stored.error is not None:
        return stored
    # One folder per content, so the file keeps the user's name: the tasks' messages name files by it.
    path = state.folder() / hashlib.sha1(raw).hexdigest()[:12] / _safe_name(name)
    try:
        write_whole(path, raw)
    except OSError as err:
        stored.error = _write_failed(err, name)
        return stored
    stored.path = str(path)
    if kind == "csv":
        try:
            stored.columns = numeric_columns(stored.path)
        except ValueError as err:
            stored.error = _shown(err, state, stored.path, name)
    return stored


def _check(state: TabState, stored: Upload, task: TaskConfig) -> float | str:
    """The task's baseline loss on the stored file, or why the task refuses it: built once per sequence length and
    column, not on every rerun (a 2 MB CSV takes seconds to read)."""
    key = (task.seq_len, task.column)
    if key not in stored.checks:
        try:
            stored.checks[key] = make_task(task).baseline_loss
        except ValueError as err:
            stored.checks[key] = _shown(err, state, stored.path, Path(stored.path).name)
    return stored.checks[key]


def write_whole(path: Path, data: bytes) -> None:
    """Write data to path through a temporary file beside it, renamed when complete: whoever reads path finds the
    whole file or none. Raises OSError (and leaves nothing behind) when it cannot be written, e.g. on a full disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        os.replace(partial, path)
    except OSError:
        Path(partial).unlink(missing_ok=True)
        raise


def _over_share(state: TabState, name: str, size: int) -> str | None:
    """Why a file of size bytes would not fit in the tab's share of the disk, or None when it fits."""
    total = state.disk_bytes() + size
    if total <= TAB_DISK_BYTES:
        return None
    return t("files.over_share", name=plain(name), total=f"{total / 2**20:.1f}", share=f"{TAB_DISK_BYTES / 2**20:g}")


def _write_failed(err: OSError, name: str) -> str:
    _LOG.warning("could not store an upload: %s", err)  # the server's log keeps the path and the reason
    return t("files.disk_full" if _disk_full(err) else "files.not_stored", name=plain(name))


def _disk_full(err: BaseException | None) -> bool:
    """Whether err (or the error it was raised while handling: rnnviz.runs wraps OSErrors) is a full disk or quota."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        err = err.__context__
    return False


def _shown(err: Exception, state: TabState, path: str | None, as_name: str) -> str:
    """An error message for the page: the server path of the file it is about becomes the name the user knows it
    by, no other path of the tab's folder is left in it, and it is inert as markdown."""
    text = str(err)
    if path:
        text = text.replace(path, as_name)
    if state.workdir is not None:
        text = text.replace(state.workdir.name + os.sep, "").replace(state.workdir.name, "")
    return plain(text)


def _refuse(task_name: str, message: str) -> None:
    """Say why the file in the uploader is not used (message: ready to show); the settings use generated data."""
    tab().data.pop(task_name, None)
    st.error(t("files.refused", error=message), icon=":material/error:")


def _safe_name(name: str) -> str:
    """A file name for the tab's folder: letters, digits, '.', '_' and '-' only, not hidden, at most 60 characters."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[-60:].lstrip(".")
    return safe or "upload"


def bundle_download() -> None:
    """Download the tab's run as a zip (run.json + model.safetensors ...), built only when clicked."""
    state = tab()
    trainer = state.trainer
    if trainer is None:
        return
    name = f"rnnviz-{trainer.cfg.task.name}-{trainer.cfg.model.cell}-step{trainer.step}.zip"
    st.download_button(t("files.download_run"), data=bundle_builder(state, trainer), file_name=name,
                       mime="application/zip", icon=":material/download:", on_click="ignore",
                       help=t("files.download_help"))
    if trainer.trace_at(trainer.step) is not None:  # a report shows probes: none before the first
        st.download_button(t("files.download_report"), data=report_builder(state, trainer), file_name=name[:-4] + ".html",
                           mime="text/html", icon=":material/description:", on_click="ignore",
                           help=t("files.report_help"))


def report_builder(state: TabState, trainer: BackgroundRun):
    """The report button's callable, guarded like the bundle's (one build at a time per tab, reused at the same step).
    The report reads only the run's snapshot and kept Traces, which training never changes in place."""

    def build() -> tuple[int, bytes]:
        step = trainer.step
        return step, report_html(trainer, step).encode("utf-8")

    return lambda: state.report.get(trainer, build)


def bundle_builder(state: TabState, trainer: BackgroundRun):
    """The download button's callable: Streamlit runs it on its shared executor, outside the script (so it may not
    call st.*), once per click; the tab's BundleCache makes repeated clicks cheap."""

    def build() -> tuple[int, bytes]:
        with trainer.held() as core:  # between two steps, so weights, optimizer and history agree
            return core.step, bundle_bytes(core)

    return lambda: state.bundle.get(trainer, build)


def bundle_upload() -> bool:
    """Restore a run from an uploaded bundle into this tab (paused, ready to look at or train on).
    Returns True when a new run was restored in this script run."""
    upload = uploader(t("files.upload_run", mb=MAX_BUNDLE_BYTES / 2**20), ["zip"], "upload_run", MAX_BUNDLE_BYTES,
                      help=t("files.upload_run_help"))
    state = tab()
    if upload is None or state.restored_upload == upload.file_id:
        return False
    state.restored_upload = upload.file_id  # once per upload, not on every rerun
    raw = upload.getvalue()
    state.prune()  # bundles restored before the current run
    refusal = _over_share(state, upload.name, len(raw))
    # The file id comes back from the browser with the uploader's state: hashed, it cannot name another folder.
    directory = state.folder() / f"run-{hashlib.sha1(upload.file_id.encode()).hexdigest()[:12]}"
    trainer = None
    if refusal is None:
        try:
            extract_bundle(raw, directory)
            refusal = _over_share(state, upload.name, 0)  # what it unpacked to
            if refusal is None:
                saved = load_run(directory)
                budget.check_config(saved.config)  # a bundle's config is as hostile as a URL's: refused before it is built
                restored = app_run(restore_trainer(saved))
                restored.snapshot()  # its history as the pages read it: a bundle's lists may hold anything
                trainer = restored
        except Exception as err:  # noqa: BLE001 -- a hostile file: whatever it makes fail, the tab goes on
            refusal = _bundle_refusal(err, state, directory, upload.name)
    if trainer is None:
        state.prune()  # what was extracted of it
        st.error(t("files.bad_run", error=refusal), icon=":material/error:")
        return False
    release(state.trainer)
    state.trainer = trainer
    task = trainer.cfg.task
    # The settings train on the run's own file, as the run did; an earlier restored run's file goes.
    state.data = {k: v for k, v in state.data.items() if k in state.uploads and state.uploads[k].path == v[0]}
    if task.data is not None:
        state.data[task.name] = (task.data, task.column)
    state.prune()  # the extracted files are read: only a data file of the run stays, for its next download
    state.confirmation = t("files.restored", step=trainer.step, task=plain(task.name), cell=plain(trainer.cfg.model.cell))
    return True


def restore_confirmation() -> None:
    """Under the bundle uploader, once: which run was restored (the page reruns to show its settings)."""
    state = tab()
    if state.confirmation:
        st.success(state.confirmation, icon=":material/check:")
        state.confirmation = None


def _bundle_refusal(err: Exception, state: TabState, directory: Path, name: str) -> str:
    """Why a bundle cannot be restored, for the page. rnnviz.runs says what is wrong with a bundle it recognises as
    such (RunFileError); anything else it raised is still the bundle's doing, and the server's log keeps it."""
    if _disk_full(err):
        return _write_failed(err, name)
    if isinstance(err, (RunFileError, ValueError)):
        return _shown(err, state, str(directory), "the bundle")
    _LOG.warning("a bundle could not be restored", exc_info=err)
    return t("files.bundle_unreadable")
