"""The Look-inside pages in Streamlit's AppTest, each with a tiny trained run in the tab (and without one).

Pages run from app.py (switch_page), as in the app, so their links to the Train page resolve.
"""
import json

import numpy as np
import pytest
from conftest import PAGES, assert_clean, open_page, probed, spec_array, tab_with, titles

from rnnviz.ui.explore import SALIENCY_KEY
from rnnviz.ui.i18n import LANG_KEY
from rnnviz.ui.state import KEY


@pytest.fixture(scope="module")
def lstm():
    return probed(cell="lstm")


@pytest.mark.parametrize("page", PAGES)
def test_without_a_run_each_page_points_to_the_train_page(page):
    at = open_page(page, None)
    assert_clean(at)
    assert "No run yet" in at.info[0].value
    assert len(at.get("page_link")) >= 1 and not at.get("plotly_chart")


def test_hidden_states_of_an_lstm(lstm):
    at = open_page("hidden_states", lstm)
    assert_clean(at)
    shown = titles(at)
    assert any(t.startswith("Hidden state h_t · step 6") for t in shown)
    assert any(t.startswith("Cell state c_t") for t in shown)
    assert at.select_slider[0].value == 6 and at.select_slider[0].options == ["0", "2", "4", "6"]
    assert len(shown) == 3  # h, c and the PCA panels (adding has no tokens to colour)


def test_hidden_states_sorted_by_an_input_and_in_3d(lstm):
    at = open_page("hidden_states", lstm)
    at.segmented_control(key="hs_sort").set_value("input_1").run()
    at.segmented_control(key="hs_pca").set_value("3d").run()
    assert_clean(at)
    assert json.loads(at.get("plotly_chart")[-1].proto.spec)["data"][0]["type"] == "scatter3d"
    heatmap = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert heatmap["layout"]["yaxis"]["title"]["text"] == "unit (ordered by input 1)"


def test_gates_of_an_lstm(lstm):
    at = open_page("gates", lstm)
    assert_clean(at)
    shown = titles(at)
    assert sum(t.startswith(("input gate", "forget gate", "candidate", "output gate")) for t in shown) == 4
    assert any("gradient flowing back" in t for t in shown)
    assert len(shown) == 7  # 4 gates, the forget gate with the gradient, saturation now and over training


def test_gates_of_a_vanilla_rnn_say_what_to_pick_instead():
    at = open_page("gates", probed(cell="rnn"))
    assert_clean(at)
    assert "no gates" in at.info[0].value and "LSTM" in at.info[0].value
    assert not at.get("plotly_chart")


def test_attention_without_attention_says_what_to_pick_instead(lstm):
    at = open_page("attention", lstm)
    assert_clean(at)
    assert "no attention" in at.info[0].value and "reversal" in at.info[0].value


def test_attention_matrices_of_a_reversal_run():
    at = open_page("attention", probed(task="reversal", cell="gru", attention="dot", seq_len=5))
    assert_clean(at)
    assert titles(at) == ["Attention at several training steps · example #1 (last panel: the picked step)"]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [d["type"] for d in spec["data"]] == ["heatmap"] * 4  # steps 0, 2, 4, 6


def test_attention_pooling_of_a_sentiment_run():
    at = open_page("attention", probed(task="sentiment", cell="lstm", attention="dot", seq_len=13))
    assert_clean(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    rows = spec["layout"]["yaxis"]["ticktext"]
    assert len(rows) == 3 and len(spec["data"][0]["text"]) == 3  # one row per probe sentence
    assert rows[0].split()[0] in ("negative", "positive")


def test_hidden_states_of_a_character_model_search_units_by_feature():
    at = open_page("hidden_states", probed(task="charlm", cell="lstm", seq_len=24))
    assert_clean(at)
    shown = titles(at)
    assert any(t.startswith("Units of h_t most correlated with “inside brackets”") for t in shown)
    assert any(t.startswith("Unit u") for t in shown)  # the text coloured by the best unit
    at.segmented_control(key="hs_text_state").set_value("c").run()
    at.segmented_control(key="hs_feature").set_value("line_position").run()
    assert_clean(at)
    assert any(t.startswith("Units of c_t most correlated with “position in line”") for t in titles(at))


def test_gradients_of_a_vanilla_rnn_show_the_bound():
    at = open_page("gradients", probed(cell="rnn"))
    assert_clean(at)
    assert any("σ_max" in m.value for m in at.markdown)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [d["name"] for d in spec["data"]][-1].startswith("bound")
    assert len(at.get("plotly_chart")) == 3  # curve, heatmap for h, parameter norms


def test_gradients_of_an_lstm_include_the_cell_state(lstm):
    at = open_page("gradients", lstm)
    assert_clean(at)
    assert any("∂c_t" in t for t in titles(at)) and len(titles(at)) == 4
    assert not at.error


def test_gradients_banner_after_a_non_finite_stop():
    trainer = probed(cell="rnn", nonlinearity="relu", init="orthogonal", init_gain=10, seq_len=50,
                      optimizer="sgd", lr=10, clip=0)
    assert trainer.status.reason == "non_finite"
    at = open_page("gradients", trainer)
    assert_clean(at)
    assert "stopped at step 1" in at.error[0].value and "clipping (now off)" in at.error[0].value


def test_the_step_slider_follows_new_probes_unless_moved_back():
    trainer = probed(steps=4)
    at = open_page("gates", trainer)
    assert at.select_slider[0].value == 4
    trainer.run(8)
    at.run()
    assert at.select_slider[0].value == 8  # followed the newest probe
    at.select_slider[0].set_value(2).run()
    trainer.run(10)
    at.run()
    assert at.select_slider[0].value == 2 and "step 2" in titles(at)[4]
    at.session_state[KEY] = tab_with(probed(steps=4, probe_batch=2))  # a new run
    at.run()
    assert at.select_slider[0].value == 4 and at.selectbox(key="inspect_example").options == ["#1", "#2"]


def test_pages_speak_chinese(lstm):
    at = open_page("gradients", lstm, lang="zh")
    assert_clean(at)
    assert at.title[0].value == "随时间的梯度" and any("探针" in t for t in titles(at))


@pytest.mark.parametrize("page, flat", [
    ("hidden_states", dict(task="charlm", cell="lstm", seq_len=24)), ("gates", dict(cell="lstm")),
    ("gradients", dict(cell="lstm")), ("attention", dict(task="reversal", cell="gru", attention="dot", seq_len=5)),
    ("attention", dict(task="sentiment", cell="lstm", attention="dot", seq_len=13))])
def test_every_chart_offers_its_data_as_csv(page, flat, monkeypatch):
    """The CSV under each chart is built only when clicked, so build each one here and read it back."""
    from rnnviz.ui import charts, inspect

    tables = {}

    def chart(fig, key, data=None, on_click=None):
        tables[key] = charts.csv_text(data()) if data is not None else None
        charts.chart(fig, key, data, on_click)

    monkeypatch.setattr(inspect, "chart", chart)
    at = open_page(page, probed(**flat))
    assert_clean(at)
    assert tables and all(text is None or text.count("\n") >= 2 for text in tables.values()), tables.keys()
    assert sum(text is not None for text in tables.values()) >= len(tables) - 2  # PCA and saturation history have none


def ig_charts(at) -> list[dict]:
    """The specs of the charts titled by integrated gradients."""
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return [s for s in specs if ((s["layout"].get("title") or {}).get("text") or "").startswith("integrated gradients")]


def test_hidden_states_show_a_series_attribution_as_a_band_under_each_heatmap_when_asked(lstm):
    at = open_page("hidden_states", lstm)
    assert len(titles(at)) == 3 and SALIENCY_KEY not in at.session_state  # h, c and PCA: nothing computed until asked
    at.toggle(key="hs_attribution").set_value(True).run()
    assert_clean(at)
    bands = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")
             if "Inputs that mattered (IG) · step 6 · #1" in chart.proto.spec]
    assert len(bands) == 2  # under h and under c
    found = at.session_state[SALIENCY_KEY]["results"][0]
    band = bands[0]["data"][0]
    assert band["type"] == "heatmap" and len(band["y"]) == 1
    assert spec_array(band["customdata"])[0].tolist() == pytest.approx(found.methods["ig"], abs=1e-6)
    assert np.abs(spec_array(band["z"])).max() == pytest.approx(1)  # coloured on the states' scale, -1..1
    heatmap_x = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["x"]
    assert band["x"] == heatmap_x  # the band lies on the heatmap's time axis
    at.run()
    assert at.session_state[SALIENCY_KEY]["results"][0] is found  # kept: a rerun computes nothing


def test_hidden_states_show_a_text_attribution_as_coloured_characters():
    trainer = probed(task="charlm", cell="lstm", seq_len=24)
    at = open_page("hidden_states", trainer)
    at.toggle(key="hs_attribution").set_value(True).run()
    assert_clean(at)
    (text,) = ig_charts(at)
    cells = text["data"][0]
    x = trainer.snapshot().trace["x"][0]
    shown = [c for row in cells["text"] for c in row if c]  # a cell per character, in reading order
    letters = [(c, trainer.task.in_vocab[int(i)]) for c, i in zip(shown, x) if trainer.task.in_vocab[int(i)].isalnum()]
    assert len(shown) == len(x) == 24 and letters and all(c == letter for c, letter in letters)
    found = at.session_state[SALIENCY_KEY]["results"][0]
    z = [v for v in spec_array(cells["z"]).ravel() if v == v]  # the cells that hold a character
    assert z == pytest.approx(found.methods["ig"], abs=1e-6)
    at.session_state[LANG_KEY] = "zh"
    at.run()
    assert_clean(at)
    assert any(title.startswith("积分梯度 · 第 6 步的权重") for title in titles(at))

