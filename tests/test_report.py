"""`python -m rnnviz report`: one standalone HTML file per run, with its settings and every expected figure, under
10 MB, loading nothing from any host (checked in chromium with every request recorded), user strings escaped."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser import browser
from conftest import ROOT, tiny_config
from plotly.offline import get_plotlyjs

from rnnviz.__main__ import main
from rnnviz.report import report_html
from rnnviz.runs import save_run
from rnnviz.train import Trainer

MAX_BYTES = 10 * 2**20
LSTM_FIGURES = ["fig-loss", "fig-grad-norm", "fig-hidden-h", "fig-hidden-c", "fig-hidden-pca", "fig-gate-i", "fig-gate-f",
                "fig-gate-g", "fig-gate-o", "fig-gate-carry", "fig-gate-saturation", "fig-gate-saturation-history",
                "fig-gradient-curve", "fig-gradient-heat-h", "fig-gradient-heat-c", "fig-gradient-params"]
DECODER_FIGURES = [f"fig-dec-{name.removeprefix('fig-')}" for name in LSTM_FIGURES[2:] if "pca" not in name and "params" not in name]
ATTENTION_FIGURES = [*LSTM_FIGURES, *DECODER_FIGURES, "fig-attention"]


def trained(**flat) -> Trainer:
    trainer = Trainer(tiny_config(steps=10, probe_every=5, **flat), probe_fraction=1.0)  # probes at 0, 5 and 10
    trainer.run()
    return trainer


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    """The CLI's report of a tiny LSTM run (adding) and of a tiny attention run (reversal)."""
    out = {}
    for name, flat in {"lstm": {}, "attention": dict(task="reversal", attention="dot", seq_len=5)}.items():
        run = tmp_path_factory.mktemp(name)
        save_run(trained(**flat), run)
        out[name] = run / "report.html"
        assert main(["report", str(run), "--out", str(out[name])]) == 0
    return out


def figure_ids(page: str) -> list[str]:
    return re.findall(r'<div id="(fig-[a-z-]+)" class="figure">', page)


@pytest.mark.parametrize("name, expected", [("lstm", LSTM_FIGURES), ("attention", ATTENTION_FIGURES)])
def test_a_report_holds_the_settings_and_every_expected_figure(reports, name, expected):
    path = reports[name]
    assert path.stat().st_size < MAX_BYTES
    page = path.read_text(encoding="utf-8")
    assert "<th>hidden</th><td>4</td>" in page and "<th>cell</th><td>lstm</td>" in page
    assert "<th>status</th><td>completed</td>" in page and "<th>steps trained</th><td>10 of 10</td>" in page
    assert sorted(figure_ids(page)) == sorted(expected)
    assert page.count(get_plotlyjs()[:2000]) == 1  # plotly.js inlined once


@pytest.mark.parametrize("name", ["lstm", "attention"])
def test_a_report_names_no_host_to_load_from(reports, name):
    page = reports[name].read_text(encoding="utf-8")
    ours = page.replace(get_plotlyjs(), "")  # plotly.js's code holds URL strings it never fetches for these charts
    assert not re.search(r"https?:", ours) and not re.search(r"<(link|img|iframe)\b|<script[^>]*\bsrc=", ours)
    assert "default-src 'none'" in page  # and the page forbids itself any request


def test_step_picks_the_nearest_probe_and_the_report_says_what_is_at_which_step(reports, tmp_path):
    out = tmp_path / "step.html"
    assert main(["report", str(reports["lstm"].parent), "--out", str(out), "--step", "4"]) == 0
    page = out.read_text(encoding="utf-8")
    assert "Asked for step 4." in page
    assert "run through the final weights (step 10)" in page  # a run directory keeps only the final weights
    assert "gate saturation per unit show the probe at step 5." in page


def test_a_live_run_shows_its_kept_trace_and_escapes_user_strings(tmp_path):
    data = tmp_path / 'notes<img src=x onerror="alert(1)">&.txt'
    data.write_text("the cat (sat) on the [mat].\n" * 60)
    trainer = trained(task="charlm", seq_len=8, data=str(data))
    page = report_html(trainer, step=6)
    assert "notes&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;.txt" in page
    assert "<img" not in page.replace(get_plotlyjs(), "") and str(tmp_path) not in page  # no server path either
    assert "at step 5, the kept probe nearest to the asked step" in page
    assert "fig-hidden-text" in figure_ids(page)  # the probe texts coloured by a unit


@pytest.mark.parametrize("flat, present, absent", [
    (dict(cell="rnn", attention="dot"), ["fig-attention", "fig-gradient-curve", "fig-hidden-h"], ["fig-gate-carry", "fig-hidden-c"]),
    (dict(cell="gru", layers=2), ["fig-gate-r", "fig-gate-z", "fig-gate-n", "fig-gate-carry"], ["fig-gate-f", "fig-attention"]),
    (dict(cell="transformer", hidden=4, heads=2), ["fig-hidden-h", "fig-gradient-curve"], ["fig-gate-carry", "fig-hidden-c"]),
    (dict(cell="lstm", bidirectional=True), ["fig-gate-f", "fig-gate-carry", "fig-hidden-c"], ["fig-attention"]),
])
def test_a_report_draws_what_the_cell_and_the_attention_have(flat, present, absent):
    ids = figure_ids(report_html(trained(**flat)))
    assert set(present) <= set(ids) and not set(absent) & set(ids)


def test_a_missing_run_directory_exits_2_with_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rnnviz: error:") and "is not a directory" in err
    assert not (tmp_path / "r.html").exists()


BLOCKED_IMPORTS = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError("blocked: " + name)

sys.meta_path.insert(0, Block())
"""


def python(script: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)


def test_without_plotly_the_report_command_says_so_in_one_line(reports, tmp_path):
    done = python(BLOCKED_IMPORTS.format(blocked=["plotly"]) + "from rnnviz.__main__ import main\n"
                  f"sys.exit(main(['report', {str(reports['lstm'].parent)!r}, '--out', {str(tmp_path / 'r.html')!r}]))")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "needs plotly" in done.stderr, done.stderr


def test_the_report_never_imports_streamlit():
    done = python(BLOCKED_IMPORTS.format(blocked=["streamlit", "pandas"]) + "import rnnviz.report")
    assert done.returncode == 0, done.stderr


@pytest.mark.browser
@pytest.mark.parametrize("name", ["lstm", "attention"])
def test_in_chromium_a_report_loads_nothing_and_draws_every_figure(reports, name):
    url = reports[name].resolve().as_uri()
    expected = len(figure_ids(reports[name].read_text(encoding="utf-8")))
    with browser() as b:
        page = b.new_page(accept_downloads=True)
        page.set_default_timeout(120_000)  # the page draws every figure before its load event: slow on a busy machine
        requests, problems = [], []
        page.on("request", lambda r: requests.append(r.url) if r.url != url else None)  # CSP-blocked ones too
        page.route("**/*", lambda route: route.continue_() if route.request.url == url else route.abort())
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(url)
        page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {expected}")
        assert page.locator(".js-plotly-plot").count() == expected
        page.locator("#fig-loss").hover()  # the toolbar shows on hover: a PNG and an SVG button
        for title, suffix in (("Download plot as a PNG", ".png"), ("Download plot as SVG", ".svg")):
            with page.expect_download() as download:
                page.locator(f"#fig-loss [data-title='{title}']").click()
            assert download.value.suggested_filename == "rnnviz-fig-loss" + suffix
        assert requests == [] and problems == []
