"""The Explore page in AppTest: saliency (complete within 1 %) and the unit search on text, series and tagging runs,
the span picked by clicks or the slider, the report download beside the run's, the charts' image options (PNG or
SVG), and an imported tutorial model restored from a zip."""
import io
import json
import zipfile

import numpy as np
import pytest
from conftest import assert_clean, open_app, probed, spec_array, tab_with, titles
from streamlit.testing.v1 import AppTest

from rnnviz.patterns import select_units
from rnnviz.ui.charts import chart_config
from rnnviz.ui.explore import clicked_steps, span_after_click
from rnnviz.ui.files import report_builder
from rnnviz.ui.i18n import LANG_KEY
from rnnviz.ui.state import KEY


def open_explore(trainer, lang: str = "en", **widgets) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.session_state[KEY] = tab_with(trainer)
    at.session_state[LANG_KEY] = lang
    for key, value in widgets.items():
        at.session_state[key] = value
    at.switch_page("views/explore.py")
    return at.run()


@pytest.fixture(scope="module")
def charlm():
    return probed(steps=30, task="charlm", seq_len=24, hidden=16, embed_dim=8, probe_batch=4)


def completeness(at: AppTest) -> tuple[float, float]:
    """The caption's sum of attributions and its loss difference."""
    caption = next(c.value for c in at.caption if c.value.startswith("Sum of the integrated"))
    numbers = caption.split("=")
    return float(numbers[0].split()[-1]), float(numbers[-1].split()[0])


def a_span_with_units(trainer) -> tuple[int, int]:
    """A two-step span of probe text #1 where some unit switches on (at threshold 0.3) and stays on."""
    states = trainer.snapshot().trace["h.0"]  # (B, T, H)
    return next((s, s + 1) for s in range(1, states.shape[1] - 1) if select_units(states, 0, s, s + 1, 0.3))


def test_charlm_attributions_are_complete_and_units_are_found(charlm):
    start, end = a_span_with_units(charlm)
    at = open_explore(charlm, ex_span=(start, end), ex_threshold=0.3)
    assert_clean(at)
    assert any(title.startswith("integrated gradients · weights of step 30") for title in titles(at))
    total, diff = completeness(at)
    assert total == pytest.approx(diff, rel=0.01) and diff != 0
    texts = [m.value for m in at.markdown]
    assert any("units** on throughout the span" in text for text in texts), texts
    assert any(f"States most like the one at step {end + 1}" in text for text in texts)


def test_gradient_times_input_is_selectable(charlm):
    at = open_explore(charlm, ex_method="grad_x")
    assert_clean(at)
    assert any(title.startswith("gradient × input") for title in titles(at))
    assert any(c.value.startswith("Gradient × input sums to") for c in at.caption)


def test_a_series_run_shows_its_input_with_bars_and_no_unit_search():
    at = open_explore(probed(task="adding"))
    assert_clean(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {trace["type"] for trace in spec["data"]} == {"scatter", "bar"}
    assert "reads numbers, not text" in at.info[0].value
    total, diff = completeness(at)
    assert total == pytest.approx(diff, rel=0.01, abs=1e-6)


def test_tagging_in_chinese():
    at = open_explore(probed(task="tagging", seq_len=8), lang="zh")
    assert_clean(at)
    assert at.subheader[0].value == "哪些输入起了作用" and at.subheader[1].value == "单元的含义"


def test_the_report_button_sits_by_the_bundle_and_builds_html(charlm):
    at = open_app(tab_with(charlm))
    assert_clean(at)
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download this run (.zip)" in labels and "Download report (HTML)" in labels
    state = tab_with(charlm)
    page = report_builder(state, state.trainer)()
    assert page.startswith(b"<!DOCTYPE html>") and report_builder(state, state.trainer)() is page  # built once per step


def test_every_chart_saves_an_image_named_after_it():
    config = chart_config("inside-ex-saliency")
    assert config["toImageButtonOptions"] == {"format": "png", "scale": 2, "filename": "rnnviz-inside-ex-saliency"}
    assert config["displaylogo"] is False


def test_an_imported_tutorial_model_restored_from_a_zip_explores(imported, uploads):  # noqa: F811
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in imported.iterdir():
            zf.write(path, f"mine/{path.name}")
    uploads["upload_run"] = ("mine.zip", buffer.getvalue())
    at = open_app()
    assert_clean(at)
    trainer = at.session_state[KEY].trainer
    assert trainer is not None and trainer.task.name == "charlm"
    at.switch_page("views/explore.py")
    at.session_state["ex_file"] = True
    at.run()
    assert_clean(at)
    assert any(title.startswith("integrated gradients") for title in titles(at))
    assert any("your file, window" in m.value for m in at.markdown) or any("No unit is on" in i.value for i in at.info)
    assert any(c.value.startswith("Read ") for c in at.caption)


def span_chart(at: AppTest) -> dict:
    return next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.selection_mode)


def orange_steps(spec: dict) -> list[int]:
    """The steps the span chart colours as the span (its heatmap's z is 1 there), in reading order."""
    z = spec_array(spec["data"][0]["z"]).ravel()
    return [t for t, v in enumerate(z[~np.isnan(z)]) if v == 1]


def test_the_span_chart_is_clickable_and_agrees_with_the_slider(charlm):
    at = open_explore(charlm, ex_span=(3, 7))
    assert_clean(at)
    spec = span_chart(at)
    assert orange_steps(spec) == [3, 4, 5, 6, 7]
    assert spec_array(spec["data"][1]["customdata"]).tolist() == list(range(24))  # each cell's clickable marker carries its step
    assert any(c.value.startswith("Click a character to start a span") for c in at.caption)
    at.session_state["ex_span"], at.session_state["ex_span_anchor"] = (5, 5), 5  # a first click at step 5
    at.run()
    assert any(c.value == "The span starts at step 5: click the character it ends at." for c in at.caption)
    at.slider(key="ex_span").set_value((10, 12)).run()  # the keyboard's way: the waiting click is dropped
    assert_clean(at)
    assert "ex_span_anchor" not in at.session_state
    assert orange_steps(span_chart(at)) == [10, 11, 12]


def test_clicks_pick_a_span():
    assert span_after_click([9], None) == ((9, 9), 9)  # a first click: a one-step span, waiting for a second
    assert span_after_click([4], 9) == ((4, 9), None)  # the second ends it, on either side
    assert span_after_click([12], 9) == ((9, 12), None)
    assert span_after_click([2, 3, 7], 9) == ((2, 7), None)  # a box over several steps spans them


def test_a_hostile_selection_picks_nothing():
    good = {"points": [{"point_index": 3, "curve_number": 1}, {"point_index": 5}]}
    assert clicked_steps(good, 24) == [3, 5]
    for bad in (None, "x", {"points": "x"}, {"points": [3, "a", None]}, {"points": [{"point_index": 24}]},
                {"points": [{"point_index": -1}]}, {"points": [{"point_index": True}]},
                {"points": [{"point_index": 2.0}]}, {"points": [{"point_index": "2"}]}):
        assert clicked_steps(bad, 24) == [], bad


def test_every_chart_saves_the_image_format_the_sidebar_picks(charlm):
    at = open_explore(charlm, chart_image_format="svg")
    assert_clean(at)
    cameras = [json.loads(c.proto.config)["toImageButtonOptions"] for c in at.get("plotly_chart")]
    assert cameras and all(camera["format"] == "svg" for camera in cameras)
    assert at.segmented_control(key="chart_image_format").options == ["PNG", "SVG"]
