"""What every page shares: the navigation groups and the sidebar with the current run.

The page files live in views/, not pages/: with a folder named pages/ beside app.py, Streamlit still
runs its old directory-based navigation for a fresh server's first visitors, so a shared link such as
/lessons?lesson=2 would open the bare page script without app.py's navigation, sidebar or language.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from ..figures.training import smoothed
from ..train import describe_device, pick_device
from .charts import image_format_switch
from .i18n import language_switch, t
from .lifecycle import SLOTS, torch_threads_per_run
from .live import live
from .presenter import presenter_switch
from .run_view import status_word
from .state import tab

PAGES_DIR = Path(__file__).resolve().parents[2] / "views"  # not "pages/": see above


def page_file(stem: str) -> str:
    """A page's script for st.page_link and st.switch_page: absolute, so valid from any entry script."""
    return str(PAGES_DIR / f"{stem}.py")


TRAIN_PAGE = page_file("train")

# (group key, [(file stem, material icon)]); titles come from the text files as nav.<stem>
NAVIGATION = [
    ("train", [("train", "model_training"), ("compare", "compare_arrows")]),
    ("inside", [("hidden_states", "grid_on"), ("gates", "door_sliding"), ("attention", "visibility"),
                ("gradients", "trending_down"), ("explore", "travel_explore")]),
    ("learn", [("lab", "science"), ("theory", "functions"), ("lessons", "school")]),
]


def pages() -> dict[str, list]:
    """st.navigation's input: every page file in its group, Train first (the default page)."""
    language_switch()
    presenter_switch()
    groups = {}
    for group, entries in NAVIGATION:
        groups[t(f"nav.{group}")] = [
            st.Page(PAGES_DIR / f"{stem}.py", title=t(f"nav.{stem}"), icon=f":material/{icon}:",
                    url_path=stem, default=(stem == "train"))
            for stem, icon in entries]
    return groups


def sidebar() -> None:
    image_format_switch()
    with st.sidebar:
        st.divider()
        live(_run_summary, interval=2.0)  # a summary: every 2 s leaves the CPU to training and the page


def _run_summary() -> None:
    trainer = tab().trainer
    if trainer is None:
        st.caption(t("sidebar.no_run"))
        new_run_share = torch_threads_per_run(SLOTS.active + 1)
        st.caption(t("sidebar.device", device=_device_text(pick_device("auto"), new_run_share)))
        return
    cfg, snap = trainer.cfg, trainer.snapshot()
    loss = snap.history["loss"]
    st.markdown(f"**{t('sidebar.run')}** · {cfg.model.cell.upper()} · {cfg.task.name} "
                f"(T={cfg.task.seq_len}, H={cfg.model.hidden})")
    last = f"{smoothed(loss)[-1]:.4g}" if len(loss) else "–"  # the Train page's Loss number
    st.caption(t("sidebar.progress", step=snap.step, total=snap.target_steps, loss=last))
    st.caption(t("sidebar.status", status=status_word(snap.status)))
    training = snap.status.kind == "running"  # then its share of the cores follows the runs training now
    threads = torch_threads_per_run(SLOTS.active) if training else snap.threads
    st.caption(t("sidebar.device", device=_device_text(snap.device, threads)))


def _device_text(device, threads: int) -> str:
    """ "CPU · 2 threads" in the reader's language; a GPU by its name."""
    if device.type != "cpu":
        return describe_device(device)
    return t("sidebar.cpu", threads=threads, plural="" if threads == 1 else "s")
