"""Attention: the encoder-decoder attention matrix at several training steps, a transformer's self-attention
per head for the picked example and layer, or attention pooling's weight on each word of a sentence next to
the prediction. Which one follows the run's family and its attention setting."""
import streamlit as st

from rnnviz.figures import attention as figs
from rnnviz.families import trace_name
from rnnviz.figures.common import describe_inputs, spread_steps
from rnnviz.ui import inspect
from rnnviz.ui.i18n import fig_labels, t
from rnnviz.ui.live import live

trainer = inspect.open_page("attention", needs="attention")
L = fig_labels("inspect.fig")
task = trainer.task
seq2seq = task.output == "seq2seq"
self_attention = inspect.family_of(trainer.cfg.model).self_attention


def draw():
    view = inspect.controls(trainer, example=seq2seq or self_attention, layer=self_attention)
    if view is None:
        return
    if self_attention:
        heads(view)
    elif seq2seq:
        matrices(view)
    else:
        pooling(view)


def matrices(view):
    """Output step x input step for the picked example, at up to four kept steps up to the picked one."""
    st.markdown(t("attention.matrix_intro"))
    steps = spread_steps(view.snap.trace_steps, view.step)
    mats = [(tr.step, tr["attn"][view.example]) for tr in map(trainer.trace_at, steps)]
    x, y = view.trace["x"][view.example], view.trace["y"][view.example]
    in_tokens = describe_inputs(x, task.in_vocab)
    out_tokens = describe_inputs(y, task.out_vocab)
    inspect.show("attn-matrix", (view.example, *steps), lambda: figs.attention_steps(
        mats, in_tokens=in_tokens, out_tokens=out_tokens, labels=L, height=420,
        title=t("attention.matrix_title", example=view.example + 1)), data=lambda: {"attn[out, in]": mats[-1][1]})


def heads(view):
    """Query x key for every head of the picked layer, for the picked example."""
    st.markdown(t("attention.self_intro"))
    maps = view.trace[trace_name("attn.self", view.layer, prefix=view.prefix)][view.example]  # (heads, T, T)
    tokens = describe_inputs(view.trace["x"][view.example], task.in_vocab)
    names = [t("attention.head_n", head=h + 1) for h in range(maps.shape[0])]
    inspect.show("attn-self", view.key, lambda: figs.self_attention_heads(
        maps, tokens=tokens, head_names=names, labels=L, height=420,
        title=t("attention.self_title", layer=view.layer, step=view.step, example=view.example + 1)),
        data=lambda: {f"head {h + 1} attn[query, key]": m for h, m in enumerate(maps)})


def pooling(view):
    """Every probe example as a row: its words shaded by α, labelled with the prediction."""
    st.markdown(t("attention.pooling_intro"))
    trace, tokens_in = view.trace, task.in_vocab is not None
    rows, names = [], []
    for b in range(trace["x"].shape[0]):
        keep = trace["mask"][b] if "mask" in trace else slice(None)  # drop the padding
        words = describe_inputs(trace["x"][b][keep], task.in_vocab)
        rows.append((words if tokens_in else [""] * len(words), trace["attn"][b, 0][keep]))
        names.append(prediction(trace["pred"][b], trace["y"][b]))
    inspect.show("attn-pool", (view.step,), lambda: figs.attention_sentences(
        rows, names, labels=L, title=t("attention.pooling_title", step=view.step)),
        data=lambda: {"attn[example, t]": trace["attn"][:, 0]})


def prediction(pred, y) -> str:
    """"positive 93% ✓" for classes, "1.02 (target 1.05)" for values."""
    if task.out_vocab is None:
        return t("attention.predicted_value", pred=float(pred.ravel()[0]), target=float(y.ravel()[0]))
    k = int(pred.argmax())
    return t("attention.predicted_class", label=task.out_vocab[k], share=100 * float(pred[k]),
             mark="✓" if k == int(y) else "✗")


live(draw)
