"""The curriculum: the Theory page's sections and the Lessons page's lessons. No Streamlit here; every text
lives in rnnviz/text/{lang}.toml under the keys named below, so both languages stay in step
(tests/test_learn.py checks that every key exists).

Text keys:
  theory.<section>.{title, body, symbols}              a theory section; its equations are here (LaTeX)
  lessons.<lesson>.{title, goal}                       a lesson
  lessons.<lesson>.<step>.{title, text, notice, question, answer}
"""
from __future__ import annotations

from dataclasses import dataclass, field


# --- theory -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    page: str  # page file stem: "train", "compare", "lab", "gradients", ...
    preset: str | None = None  # load this preset (on the Train page, or side by side for "compare")
    lab: dict = field(default_factory=dict)  # lab settings in the page address (the lab's widget keys)


@dataclass(frozen=True)
class Section:
    key: str
    equations: tuple[str, ...]  # LaTeX, one display equation each
    links: tuple[Link, ...] = ()


THEORY_SECTIONS: tuple[Section, ...] = (
    Section("rnn", (
        r"h_t = \tanh\left(W_{hh}\, h_{t-1} + W_{xh}\, x_t + b_h\right), \qquad h_0 = 0",
        r"\hat y_t = W_{hy}\, h_t + b_y, \qquad L = \sum_t \ell(\hat y_t, y_t)",
    ), (Link("hidden_states", "sine"), Link("hidden_states", "charlm"))),
    Section("bptt", (
        r"\frac{\partial L}{\partial h_t} = \frac{\partial \ell_t}{\partial h_t}"
        r" + \left(\frac{\partial h_{t+1}}{\partial h_t}\right)^{\!\top} \frac{\partial L}{\partial h_{t+1}}",
        r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \operatorname{diag}\!\big(\sigma'(a_t)\big)"
        r"\,\frac{\partial L}{\partial h_t}\, h_{t-1}^{\top}",
    ), (Link("gradients", "vanishing"),)),
    Section("jacobian", (
        r"\frac{\partial h_T}{\partial h_t} = \prod_{k=t+1}^{T} J_k, \qquad"
        r" J_k = \frac{\partial h_k}{\partial h_{k-1}} = \operatorname{diag}\!\big(\sigma'(a_k)\big)\, W_{hh}",
        r"\left\lVert \frac{\partial h_T}{\partial h_t} \right\rVert \le \big(\lambda_1 \gamma\big)^{T-t},"
        r" \qquad \lambda_1 = \sigma_{\max}(W_{hh}), \quad \gamma = \max_a \lvert \sigma'(a) \rvert",
    ), (Link("lab", lab={"view": "rnn"}), Link("compare", "vanishing"))),
    Section("lstm", (
        r"\begin{aligned} i_t &= \sigma(W_{ii} x_t + W_{hi} h_{t-1} + b_i) &"
        r" f_t &= \sigma(W_{if} x_t + W_{hf} h_{t-1} + b_f) \\"
        r" o_t &= \sigma(W_{io} x_t + W_{ho} h_{t-1} + b_o) &"
        r" g_t &= \tanh(W_{ig} x_t + W_{hg} h_{t-1} + b_g) \end{aligned}",
        r"c_t = f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t)",
        r"\frac{\partial c_t}{\partial c_{t-1}} = \operatorname{diag}(f_t)",
        r"i_t = \sigma(W_{ii} x_t + W_{hi} h_{t-1} + p_i \odot c_{t-1} + b_i)",
    ), (Link("gates", "vanishing_lstm"), Link("lab", lab={"view": "lstm"}))),
    Section("gru", (
        r"r_t = \sigma(W_{ir} x_t + W_{hr} h_{t-1} + b_r), \qquad z_t = \sigma(W_{iz} x_t + W_{hz} h_{t-1} + b_z)",
        r"n_t = \tanh\big(W_{in} x_t + r_t \odot (W_{hn} h_{t-1} + b_{hn}) + b_{in}\big)",
        r"h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}",
    ), (Link("compare", "vanishing"), Link("gates", "sine"))),
    Section("clipping", (
        r"g = \nabla_\theta L, \qquad"
        r" g \leftarrow g \cdot \min\!\left(1, \frac{\theta_{\text{clip}}}{\lVert g \rVert}\right)",
    ), (Link("train", "exploding"), Link("train", "clipping"), Link("lab", lab={"view": "cliff"}))),
    Section("pooling", (
        r"\alpha = \operatorname{softmax}\!\left(\omega^{\top} H\right), \qquad"
        r" H = [h_1, \dots, h_T] \in \mathbb{R}^{d \times T}",
        r"h = \sum_{k=1}^{T} \alpha_k\, h_k, \qquad \hat y = \operatorname{softmax}(W h + b)",
    ), (Link("attention", "sentiment"),)),
    Section("seq2seq", (
        r"e_{jk} = s_j^{\top} h_k \qquad \big|\qquad e_{jk} = v^{\top} \tanh(W_s s_j + W_h h_k)",
        r"\alpha_{jk} = \frac{\exp e_{jk}}{\sum_{k'} \exp e_{jk'}}, \qquad c_j = \sum_{k} \alpha_{jk}\, h_k",
        r"\hat y_j = \operatorname{softmax}\big(W [s_j ; c_j] + b\big)",
    ), (Link("attention", "reversal"),)),
    Section("transformer", (
        r"Q = X W_Q, \quad K = X W_K, \quad V = X W_V",
        r"\operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\left(\frac{Q K^{\top}}{\sqrt{d_k}}\right) V",
    ), (Link("attention", "reversal"),)),
    Section("bidirectional", (
        r"\overrightarrow{h}_t = f\big(W x_t + U\, \overrightarrow{h}_{t-1}\big), \qquad"
        r" \overleftarrow{h}_t = f\big(W' x_t + U'\, \overleftarrow{h}_{t+1}\big)",
        r"h_t = \big[\overrightarrow{h}_t ;\, \overleftarrow{h}_t\big], \qquad \hat y_t = \operatorname{softmax}(W_y h_t + b_y)",
    ), (Link("train", "tagging_one_way"), Link("gradients", "tagging_bidirectional"))),
    Section("path", (
        r"\alpha = \operatorname{softmax}\!\left(\frac{Q K^{\top}}{\sqrt{d}}\right), \qquad"
        r" y_t = \sum_{k=1}^{T} \alpha_{tk}\, v_k",
        r"\operatorname{path}_{\mathrm{attn}}(x_k \to y_T) = 1, \qquad"
        r" \operatorname{path}_{\mathrm{rnn}}(x_k \to h_T) = T - k, \qquad"
        r" \frac{\partial h_T}{\partial h_k} = \prod_{j=k+1}^{T} J_j",
    ), (Link("compare", "attention_t50"), Link("compare", "attention_t200"))),
)

# applications of recurrent networks; each text names the task in this app that is a small version of it
APPLICATIONS = ("generation", "translation", "sentiment", "tagging", "timeseries", "audio")

# --- lessons ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    key: str
    preset: str | None = None  # the step's button loads this preset ...
    action: str = "train"  # ... and "train"s it on the Train page, trains its cells side by side ("compare"),
    #                        or only "load"s it
    page: str | None = None  # the page where the step's effect shows
    lab: dict = field(default_factory=dict)  # for page "lab": the settings to open it with


@dataclass(frozen=True)
class Lesson:
    key: str
    steps: tuple[Step, ...]


LESSONS: tuple[Lesson, ...] = (
    Lesson("reading", (
        Step("idea"),
        Step("train", "sine", page="train"),
        Step("heatmap", page="hidden_states"),
        Step("trajectory", page="hidden_states"),
        Step("memory", page="lab", lab={"view": "rnn", "lab_rho": 0.9, "lab_T": 50}),
    )),
    Lesson("vanishing", (
        Step("task"),
        Step("short", "adding_t10", "compare", page="compare"),
        Step("medium", "vanishing", "compare", page="compare"),
        Step("gradients", page="compare"),
        Step("long", "adding_t100", "compare", page="compare"),
        Step("why", page="lab", lab={"view": "rnn", "lab_T": 100, "lab_rho": 1.0}),
    )),
    Lesson("exploding", (
        Step("cliff", page="lab", lab={"view": "cliff"}),
        Step("explode", "exploding", page="train"),
        Step("clip", "clipping", page="train"),
        Step("regime", page="lab", lab={"view": "rnn", "lab_T": 20, "lab_rho": 1.25, "lab_in": 0.1}),
    )),
    Lesson("lstm", (
        Step("equations"),
        Step("train", "vanishing_lstm", page="train"),
        Step("forget", page="gates"),
        Step("saturation", page="gates"),
        Step("bias", page="lab", lab={"view": "lstm", "lstm_bf": -2.0}),
    )),
    Lesson("attention", (
        Step("reversal", "reversal", page="train"),
        Step("diagonal", page="attention"),
        Step("sentiment", "sentiment", page="train"),
        Step("weights", page="attention"),
        Step("transformers", page="theory"),
    )),
    Lesson("cells", (
        Step("train", "charlm", page="train"),
        Step("find", page="hidden_states"),
        Step("quotes", page="hidden_states"),
        Step("longer", "charlm_long", page="hidden_states"),
        Step("why"),
    )),
    Lesson("both_ways", (
        Step("context"),
        Step("one_way", "tagging_one_way", page="train"),
        Step("ceiling", page="train"),
        Step("bidirectional", "tagging_bidirectional", page="train"),
        Step("backward", page="gradients"),
    )),
    Lesson("attention_path", (
        Step("path"),
        Step("t50", "attention_t50", "compare", page="compare"),
        Step("gradients", page="compare"),
        Step("t200", "attention_t200", "compare", page="compare"),
        Step("time"),
        Step("memory"),
    )),
)


def lesson(key: str) -> Lesson:
    return next(item for item in LESSONS if item.key == key)


def text_keys() -> list[str]:
    """Every text key the theory and lessons pages read (for the tests: both languages must have them all)."""
    keys = [f"theory.{s.key}.{part}" for s in THEORY_SECTIONS for part in ("title", "body", "symbols")]
    keys += [f"theory.app.{name}" for name in APPLICATIONS]
    for item in LESSONS:
        keys += [f"lessons.{item.key}.title", f"lessons.{item.key}.goal"]
        keys += [f"lessons.{item.key}.{s.key}.{part}" for s in item.steps
                 for part in ("title", "text", "notice", "question", "answer")]
    return keys
