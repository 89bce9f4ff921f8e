"""The Train page and the new model families: the transformer and bidirectional settings from the address and the
widgets, the toggle where the model refuses it, tagged sentences, and tasks (not page code) saying how they are shown."""
from __future__ import annotations

import re

import numpy as np
from conftest import APP_TIMEOUT as TIMEOUT
from conftest import ROOT, button, open_app, stepped, tab_with
from streamlit.testing.v1 import AppTest

from rnnviz.figures import training as figs
from rnnviz.tasks import REGISTRY
from rnnviz.tasks.base import OUTPUT_VIEWS
from rnnviz.ui.state import KEY, TabState


def page(query: dict | None = None, state: TabState | None = None, **widgets) -> AppTest:
    """The Train page opened at an address with these query parameters, optionally with widget values set."""
    at = open_app(state, query, **widgets)
    assert not at.exception, at.exception
    return at


def test_a_transformer_from_the_address():
    at = page({"task": "adding", "cell": "Transformer", "hidden": "8", "heads": "4"})
    assert at.number_input(key="heads").value == 4
    assert at.toggle(key="bidirectional").disabled  # the transformer reads the whole sequence already
    assert not at.error and not button(at, "Train").disabled
    button(at, "Train").click().run()
    trainer = at.session_state[KEY].trainer
    trainer.stop()
    trainer.join(timeout=TIMEOUT)
    model = trainer.cfg.model
    assert (model.cell, model.heads, model.hidden, model.bidirectional) == ("transformer", 4, 8, False)


def test_a_bidirectional_tagger_from_the_widgets():
    at = page({"task": "tagging"})
    assert not [n for n in at.number_input if n.key == "heads"]  # heads only for the transformer
    at.toggle(key="bidirectional").set_value(True).run()
    button(at, "Train").click().run()
    trainer = at.session_state[KEY].trainer
    trainer.stop()
    trainer.join(timeout=TIMEOUT)
    assert trainer.cfg.model.bidirectional and trainer.cfg.model.cell == "lstm"


def test_heads_that_do_not_divide_hidden_are_explained():
    at = page({"cell": "Transformer", "hidden": "6", "heads": "4"})
    assert any("heads must divide hidden" in e.value for e in at.error) and button(at, "Train").disabled


def test_crafted_addresses_are_refused_with_a_warning():
    at = page({"cell": "Transformer", "heads": "9", "bidirectional": "maybe"})
    warnings = " ".join(w.value for w in at.warning)
    assert "heads=9" in warnings and "bidirectional=maybe" in warnings
    assert at.number_input(key="heads").value == 2 and at.toggle(key="bidirectional").value is False


def test_the_toggle_is_off_and_says_why_where_the_model_refuses_it():
    for task, reason in (("charlm", "next input"), ("sine", "next input"), ("reversal", "encoder")):
        at = page({"task": task, "bidirectional": "true"})
        toggle = at.toggle(key="bidirectional")
        assert toggle.disabled and toggle.value is False and reason in toggle.help, task
        assert not at.error


def test_the_transformer_on_sentiment_turns_attention_pooling_off():
    at = page()
    at.selectbox(key="task").set_value("sentiment").run()
    assert at.selectbox(key="attention").value == "dot"
    at.selectbox(key="cell").set_value("Transformer").run()
    assert not [s for s in at.selectbox if s.key == "attention"] and at.session_state["attention"] == "none"
    assert not at.error and not button(at, "Train").disabled
    at.selectbox(key="task").set_value("order").run()  # a task change keeps the transformer
    assert at.selectbox(key="cell").value == "Transformer" and not at.error


def test_the_transformer_is_refused_for_encoder_decoder_tasks_before_training():
    at = page({"task": "reversal", "cell": "Transformer"})
    assert any("no decoder" in e.value for e in at.error) and button(at, "Train").disabled


def test_a_tagging_run_shows_tagged_sentences_and_the_one_way_ceiling():
    trainer = stepped(run_steps=4, task="tagging", seq_len=8, bidirectional=True, probe_every=2)
    for lang, ceiling, mistake in (("en", "best one-way reader", "wrong tag"), ("zh", "单向读取的上限", "标错")):
        at = page(state=tab_with(trainer), lang=lang)
        specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
        assert ceiling in specs  # the accuracy chart's dashed line
        assert mistake in specs and "B-PER" in specs  # the tagged words figure and its legend


def test_tagged_words_figure_frames_mistakes_and_wraps_lines():
    rows = [[("Jordan", "B-PER", "B-ORG"), ("said", "O", "O"), (".", "O", "O")]]
    fig = figs.tagged_words_figure(rows, REGISTRY["tagging"].out_vocab, per_line=2)
    cells = fig.data[0]
    assert np.asarray(cells.z).shape == (4, 2)  # two lines of two words, each with its true-tag row
    assert cells.text[0] == ["Jordan", "said"] and cells.text[1] == ["B-PER", "·"] and cells.text[2] == [".", ""]
    assert len(fig.layout.shapes) == 1 and fig.layout.shapes[0].x0 == -0.5  # the one wrong word, framed
    assert [t.name for t in fig.data[1:]] == [*REGISTRY["tagging"].out_vocab, "wrong tag"]


def test_tasks_say_how_they_are_shown():
    for cls in REGISTRY.values():
        assert cls.output_view in OUTPUT_VIEWS, cls.name
    tagging = REGISTRY["tagging"].__new__(REGISTRY["tagging"])
    tagging.ceiling = 0.9
    assert tagging.reference_accuracies() == {"chance": 1 / 7, "one_way_ceiling": 0.9}


def test_the_train_page_code_does_not_branch_on_task_names():
    for path in ("rnnviz/ui/run_view.py", "rnnviz/ui/controls.py", "rnnviz/ui/fields.py"):
        source = (ROOT / path).read_text()
        assert not re.search(r"task\.name\s*[!=]=|\.task\.name\s*[!=]=|name\s*==\s*\"(copy|charlm|sine|reversal)\"",
                             source), path
