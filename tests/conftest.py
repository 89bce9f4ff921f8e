"""Shared set-up for the tests: one torch thread, tiny configs, and the helpers that
several test modules use (a tab with a run in it, uploads through the real handlers, crafted bundles).

Tiny models are dominated by per-op overhead, and on a busy 2-core machine torch's intra-op
thread pool spends more time waiting for a core than computing, so every test runs on 1 thread.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]  # on sys.path through pytest.ini's pythonpath

torch.set_num_threads(1)
os.environ.setdefault("RNNVIZ_TORCH_THREADS", "1")  # the app's training slots keep to it too

import base64  # noqa: E402
import functools  # noqa: E402
import hashlib  # noqa: E402
import html  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import zipfile  # noqa: E402

import numpy as np  # noqa: E402
import streamlit as st  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from streamlit.components.v2 import manifest_scanner  # noqa: E402
from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402
from torch import nn  # noqa: E402

from browser import AppServer, browser, chromium_path  # noqa: E402

from rnnviz.__main__ import main  # noqa: E402
from rnnviz.config import RunConfig  # noqa: E402
from rnnviz.runs import RUN_JSON, bundle_bytes  # noqa: E402
from rnnviz.train import Trainer  # noqa: E402
from rnnviz.ui.i18n import LANG_KEY  # noqa: E402
from rnnviz.ui.lifecycle import app_run  # noqa: E402
from rnnviz.ui.state import KEY, TabState  # noqa: E402

APP_TIMEOUT = 60  # seconds an AppTest run may take on a busy machine

# Every new AppTest reads the metadata of every installed package, looking for Streamlit components: 80 % of a page
# test's time, measured. The packages do not change while the tests run, so one scan per process serves them all.
manifest_scanner.scan_component_manifests = functools.cache(manifest_scanner.scan_component_manifests)


def tiny_config(**flat) -> RunConfig:
    """An adding-task run small enough to check by hand and train in milliseconds per step."""
    base = dict(task="adding", cell="lstm", hidden=4, seq_len=6, steps=10, batch=8, lr=1e-2,
                probe_every=5, probe_batch=3, device="cpu", seed=0)
    return RunConfig.from_flat({**base, **flat})


@pytest.fixture
def cfg():
    """tiny_config as a fixture: cfg(cell="gru", layers=2) -> RunConfig."""
    return tiny_config


@pytest.fixture
def exact_probes(monkeypatch):
    """Probe exactly every probe_every steps, whatever the wall-time share."""
    monkeypatch.setattr("rnnviz.train.PROBE_TIME_FRACTION", 1.0)


# ---- the app with a run in its tab, uploads and bundles (test_bad_input, test_hostile_ui, test_recovery, ...) ----
KEPT = "The current run is unchanged."


def tab_with(trainer: Trainer) -> TabState:
    """A tab whose run is trainer (trained here, synchronously), as the app holds a run."""
    return TabState(trainer=app_run(trainer))


@pytest.fixture
def current() -> TabState:
    """A tab whose run (a tiny trainer stepped 4 times) no bad input may lose."""
    trainer = Trainer(tiny_config(steps=20))
    trainer.run(4)
    return tab_with(trainer)


@pytest.fixture
def uploads(monkeypatch) -> dict:
    """Files "uploaded" in the app: uploader key -> (file name, bytes). Each uploader is drawn as usual."""
    files = {}
    real = st.file_uploader

    def file_uploader(label, *args, key=None, **kwargs):
        real(label, *args, key=key, **kwargs)
        if key not in files:
            return None
        name, data = files[key]
        record = UploadedFileRec(hashlib.sha1(name.encode() + data).hexdigest(), name, "application/octet-stream", data)
        return UploadedFile(record, None)

    monkeypatch.setattr(st, "file_uploader", file_uploader)
    return files


def open_app(state: TabState | None = None, query: dict | None = None, **widgets) -> AppTest:
    """The whole app on its Train page, with a tab state, URL query parameters and widget values."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APP_TIMEOUT)
    if state is not None:
        at.session_state[KEY] = state
    for key, value in (query or {}).items():
        at.query_params[key] = value
    for key, value in widgets.items():
        at.session_state[key] = value
    return at.run()


def seen(text: str) -> str:
    """What a reader sees of a markdown text: user text in it is written as character references, with an invisible
    word joiner where it would have made a link (i18n.plain)."""
    return html.unescape(text).replace("\u2060", "")


def shown(elements) -> list[str]:
    """What the reader sees of each alert."""
    return [seen(e.value) for e in elements]


def assert_kept(at: AppTest, state: TabState) -> None:
    """No traceback, and the tab still holds its run, untouched at step 4."""
    assert not at.exception, at.exception
    assert at.session_state[KEY].trainer is state.trainer and state.trainer.step == 4
    assert any(m.label == "Status" for m in at.metric), "the current run is still shown"


def bundle(**changes) -> bytes:
    """A tiny run's bundle, with files replaced (name -> bytes) or run.json edited (run_json=callable)."""
    trainer = Trainer(tiny_config(steps=6))
    trainer.run()
    edit = changes.pop("run_json", None)
    source = zipfile.ZipFile(io.BytesIO(bundle_bytes(trainer, evaluate=False)))
    files = {name: source.read(name) for name in source.namelist()}
    if edit is not None:
        record = json.loads(files[RUN_JSON])
        edit(record)
        files[RUN_JSON] = json.dumps(record).encode()
    files.update(changes)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            if data is not None:
                zf.writestr(name, data)
    return out.getvalue()


def numbers(n: int, bad: dict | None = None) -> bytes:
    """A CSV with a text column t and a numeric column v of n rows; bad: line number -> value of v there."""
    rows = ["t,v"] + [f"r{i},{(bad or {}).get(i + 2, f'{math.sin(i / 5):.4f}')}" for i in range(n)]
    return ("\n".join(rows) + "\n").encode()


class CreatesFile:
    """Unpickling this creates a file: the trap that shows whether anything was unpickled."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def trained(steps=6, **flat) -> Trainer:
    trainer = Trainer(tiny_config(steps=steps, **flat))
    assert trainer.run().kind == "completed"
    return trainer


def edit_record(run_dir, change):
    record = json.loads((run_dir / RUN_JSON).read_text())
    change(record)
    (run_dir / RUN_JSON).write_text(json.dumps(record))


# ---- pages with a run (test_pages_train, test_pages_inside, test_families_ui, test_inside_families, ...) ----
def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r} among {[b.label for b in at.button]}"
    return matches[0]


def stepped(run_steps: int = 6, **flat) -> Trainer:
    """A tiny trainer stepped synchronously for run_steps (its configured steps may be more)."""
    trainer = Trainer(tiny_config(**flat))
    trainer.run(run_steps)
    return trainer


PAGES = ("hidden_states", "gates", "attention", "gradients")


def probed(steps: int = 6, **flat) -> Trainer:
    trainer = Trainer(tiny_config(steps=steps, probe_every=2, **flat), probe_fraction=1.0)  # exact probe schedule
    trainer.run()
    return trainer


def open_page(page: str, trainer: Trainer | None, lang: str = "en") -> AppTest:
    """The app on a page, with trainer (trained here) as the tab's run."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APP_TIMEOUT)
    at.session_state[KEY] = TabState() if trainer is None else tab_with(trainer)
    at.session_state[LANG_KEY] = lang
    at.switch_page(f"views/{page}.py")
    return at.run()


def titles(at: AppTest) -> list[str]:
    """The plotly charts' titles (or their first trace's type when untitled)."""
    out = []
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        out.append((spec["layout"].get("title") or {}).get("text") or spec["data"][0]["type"])
    return out


def spec_array(value) -> np.ndarray:
    """An array of a chart's spec: a list, or the typed array plotly.py writes as base64 ({"dtype", "bdata", "shape"})."""
    if isinstance(value, dict):
        shape = [int(n) for n in str(value.get("shape", -1)).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape)
    return np.array(value, dtype=float)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


# ---- a model trained outside the project, as a PyTorch tutorial would (test_import, test_pages_explore) ----
TEXT = "the cat sat on the mat (and [the] dog) ran off. " * 36  # data.txt: 1,764 characters


TRAINED_ON = TEXT + "QUIZ\n"  # the tutorial's own corpus held characters the run's text lacks


SEQ_LEN = "32"


class CharModel(nn.Module):
    """The character model of a PyTorch tutorial."""

    def __init__(self, vocab_size: int, embed: int = 16, hidden: int = 32):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, vocab_size)

    def forward(self, x):
        out, _ = self.lstm(self.embedding(x))
        return self.fc(out)


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    """A CharModel trained for 40 steps by a plain PyTorch loop, saved as a tutorial would: (model, chars, folder)."""
    folder = tmp_path_factory.mktemp("tutorial")
    chars = sorted(set(TRAINED_ON))
    ids = torch.tensor([chars.index(c) for c in TRAINED_ON])
    torch.manual_seed(0)
    model = CharModel(len(chars))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        start = torch.randint(0, len(ids) - 33, (16,))
        window = ids[start[:, None] + torch.arange(33)]  # (16, 33)
        loss = nn.functional.cross_entropy(model(window[:, :-1]).reshape(-1, len(chars)), window[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 2.0  # it learned something: the unigram entropy of this text is about 2.7 nats
    model.eval()
    save_file(model.state_dict(), str(folder / "model.safetensors"))
    (folder / "vocab.json").write_text(json.dumps(chars))
    (folder / "input.txt").write_text(TEXT)
    return model, chars, folder


def import_args(folder: Path, out: Path, weights: str = "model.safetensors", vocab: str = "vocab.json", *more) -> list[str]:
    return ["import", "--weights", str(folder / weights), "--vocab", str(folder / vocab), "--data",
            str(folder / "input.txt"), "--out", str(out), "--seq-len", SEQ_LEN, *more]


@pytest.fixture(scope="module")
def imported(tutorial, tmp_path_factory):
    _, _, folder = tutorial
    out = tmp_path_factory.mktemp("runs") / "mine"
    assert main(import_args(folder, out)) == 0
    return out


# ---- browser tests (test_browser_*.py): one app server and one chromium per module ----
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`streamlit run app.py` for a module's browser tests; skips (or fails in CI) without chromium, before starting."""
    chromium_path()
    app = AppServer(tmp_path_factory.mktemp("app") / "streamlit.log")
    yield app
    app.close()


@pytest.fixture(scope="module")
def chromium(server):
    """One playwright chromium per module: a second sync playwright cannot start inside the first."""
    with browser() as b:
        yield b
