"""What a projector needs, checked without a browser: type large enough on every chart of every page, the smoothed
loss the Train page shows, the presenter switch, cells told apart without colour, and uploaders that state their
real limit in the reader's language. (tests/test_browser_projector.py checks the same in chromium.)"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import ROOT, assert_clean, open_page, probed, tab_with
from streamlit.testing.v1 import AppTest

from rnnviz.figures import training as figs
from rnnviz.ui.i18n import LANG_KEY
from rnnviz.ui.presenter import HIDDEN_WHILE_PRESENTING
from rnnviz.ui.lifecycle import app_run
from rnnviz.ui.state import KEY, TabState

TICK_PX, TITLE_PX = 14, 16
AXIS = re.compile(r"^[xy]axis\d*$")


def specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def small_type(spec: dict) -> list[str]:
    """Where a chart's type is smaller than a projector needs: ticks under TICK_PX, titles under TITLE_PX."""
    layout = spec["layout"]
    found = []
    if (layout.get("title") or {}).get("text") and layout["title"].get("font", {}).get("size", 0) < TITLE_PX:
        found.append("title")
    axes = {k: v for k, v in layout.items() if AXIS.match(k)}
    for scene in (v for k, v in layout.items() if k.startswith("scene")):
        axes.update({f"scene.{k}": scene.get(k, {}) for k in ("xaxis", "yaxis", "zaxis")})
    for name, ax in axes.items():
        if ax.get("showticklabels", True) and ax.get("tickfont", {}).get("size", 0) < TICK_PX:
            found.append(f"{name} ticks")
        title = ax.get("title") or {}
        if title.get("text") and title.get("font", {}).get("size", 0) < TITLE_PX:
            found.append(f"{name} title")
    return found


@pytest.fixture(scope="module")
def lstm():
    return probed(cell="lstm")


@pytest.mark.parametrize("page, run", [("train", "lstm"), ("hidden_states", "lstm"), ("gates", "lstm"),
                                       ("gradients", "lstm"), ("attention", "reversal"), ("lab", None)])
def test_every_chart_has_projector_type(page, run, lstm):
    trainer = {"lstm": lstm, "reversal": probed(task="reversal", cell="gru", attention="dot", seq_len=5),
               None: None}[run]
    at = open_page(page, trainer)
    assert_clean(at)
    charts = specs(at)
    assert charts, f"{page} drew no chart"
    for spec in charts:
        title = (spec["layout"].get("title") or {}).get("text")
        assert not small_type(spec), f"{page} · {title}: {small_type(spec)}"


def test_compare_charts_have_projector_type_and_cells_differ_without_colour():
    runs = {cell: probed(cell=cell.lower()) for cell in ("RNN", "LSTM", "GRU")}
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state[KEY] = TabState(compare={cell: app_run(run) for cell, run in runs.items()})
    at.switch_page("views/compare.py").run()
    assert_clean(at)
    charts = specs(at)
    assert len(charts) == 2
    for spec in charts:
        assert not small_type(spec), small_type(spec)
        dashes = {trace["name"]: trace["line"].get("dash", "solid") for trace in spec["data"]
                  if trace["name"] in runs}
        assert len(set(dashes.values())) == 3, dashes


def test_cell_palette_is_colour_blind_safe():
    """Okabe & Ito's colours, which stay apart under every common colour-vision deficiency, one dash style each."""
    okabe_ito = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}
    assert {c.upper() for c in figs.PALETTE.values()} <= okabe_ito
    assert len(set(figs.DASHES.values())) == len(figs.DASHES) and set(figs.DASHES) >= set(figs.PALETTE)


def test_smoothed_loss_is_a_moving_average_that_skips_non_finite_losses():
    rng = np.random.default_rng(1)
    loss = rng.uniform(0, 1, 1000)  # several of smoothed()'s blocks
    loss[[0, 300, 301]] = [np.nan, np.inf, np.nan]
    beta, total, seen, expected = 1 - 2 / 51, 0.0, 0.0, []
    for value in loss:  # the definition, one step at a time
        finite = np.isfinite(value)
        total, seen = beta * total + (value if finite else 0.0), beta * seen + finite
        expected.append(total / seen if seen else np.nan)
    np.testing.assert_allclose(figs.smoothed(loss, span=50), expected, rtol=1e-9)
    np.testing.assert_allclose(figs.smoothed(np.full(700, 0.25)), 0.25)  # no pull towards 0 at the start
    assert figs.smoothed(np.zeros(0)).shape == (0,)


def test_loss_chart_draws_the_smoothed_curve_over_faint_raw_losses():
    rng = np.random.default_rng(0)
    step = np.arange(1, 401)
    loss = 1 / 6 + rng.normal(0, 0.05, 400) ** 2
    fig = figs.loss_figure(step, loss, 1 / 6)
    raw, smooth = fig.data[0], fig.data[1]
    assert raw.opacity < 0.5 and raw.showlegend is False
    assert smooth.name.startswith("loss") and smooth.line.width >= 2.5
    np.testing.assert_allclose(smooth.y[-1], figs.smoothed(loss)[-1], rtol=1e-6)
    assert np.std(np.diff(smooth.y)) < np.std(np.diff(raw.y)) / 5  # it is smooth


def test_train_page_metric_shows_the_smoothed_loss(lstm):
    at = open_page("train", lstm)
    assert_clean(at)
    metric = next(m for m in at.metric if m.label == "Loss (smoothed)")
    assert metric.value == f"{figs.smoothed(lstm.snapshot().history['loss'])[-1]:.4g}"


def test_presenter_mode_hides_settings_and_enlarges_type(lstm):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state[KEY] = tab_with(lstm)
    at.query_params["present"] = "1"
    at.run()
    assert_clean(at)
    assert at.session_state["present"] is True
    css = " ".join(h.proto.body for h in at.get("html"))
    assert f".st-key-{HIDDEN_WHILE_PRESENTING} {{ display: none; }}" in css, "settings hidden while presenting"
    loss = specs(at)[0]
    assert loss["layout"]["xaxis"]["tickfont"]["size"] >= 18
    assert loss["layout"]["title"]["font"]["size"] >= 22


def test_kept_figures_are_restyled_once_while_presenting(lstm):
    """The Look-inside pages keep their figures between reruns: presenting must not enlarge them again at each one."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state[KEY] = tab_with(lstm)
    at.query_params["present"] = "1"
    at.switch_page("views/gates.py")
    sizes = []
    for _ in range(2):
        at.run()
        assert_clean(at)
        scatter = next(s for s in specs(at) if s["layout"].get("annotations"))  # the saturation scatter's panel titles
        sizes.append([a["font"]["size"] for a in scatter["layout"]["annotations"]])
    assert sizes[0] == sizes[1] and min(sizes[0]) > 16


@pytest.mark.parametrize("lang, words", [("en", "up to 5 MB"), ("zh", "最多 5 MB")])
def test_the_text_uploader_states_its_real_limit_in_the_readers_language(lang, words):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state[LANG_KEY] = lang
    at.session_state["task"] = "charlm"
    at.run()
    assert_clean(at)
    uploader = next(w for w in at.get("file_uploader") if w.proto.id.endswith("upload_charlm"))
    assert uploader.proto.max_upload_size_mb == 5
    assert words in uploader.proto.label


def test_the_servers_upload_limit_is_the_largest_uploaders():
    """Streamlit refuses larger uploads before the app sees them: its limit is the run bundle's, no more."""
    import tomllib

    from rnnviz.runs import MAX_BUNDLE_BYTES

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_BUNDLE_BYTES // 2**20


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_preset_durations_are_measured_ranges(lang):
    """"About 20 s" took 69 s on a busy server: a preset states how long it takes as a range, short end alone on a
    2-core CPU, long end on a busy server."""
    from rnnviz.presets import PRESETS
    from rnnviz.ui.i18n import texts

    for key in PRESETS:
        description = texts(lang)[f"presets.{key}.description"]
        for number in re.findall(r"([\d.–]+) ?(?:s|seconds|秒)\b", description):
            assert "–" in number, f"{key}: {description}"
