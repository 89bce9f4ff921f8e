"""The Train page's settings: one widget per config option, each bound to the URL, plus presets.

Widget keys are the CLI's flat option names (task, seq_len, hidden, lr, ...), so a copied link
such as `/?task=reversal&cell=GRU` opens the same configuration (the Train page is the app's root). Two widgets differ from the
flat names: `cell` also carries the vanilla RNN's nonlinearity ("RNN", "RNN-ReLU", "LSTM", "GRU",
"Transformer"), and the clip threshold has an on/off toggle (`clipping`) beside it.

A bound select widget writes the *displayed* option into the URL, so select widgets show the
options' own language-independent codes (the CLI's names) and explain them in the reader's language
beside the widget; a link shared from the Chinese page then works on the English one.

Bound widgets drop from the URL whatever equals their default, so every widget's default is a
constant: the resolved config of the default task. Changing the task writes that task's defaults
into the other widgets. Presets and other pages load settings by switching to the Train page with
every widget's value in the query string, which Streamlit applies to the bound widgets.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitAPIException

from ..config import ATTENTIONS, INITS, LIMITS, OPTIMIZERS, RunConfig, TaskConfig, TrainConfig
from ..cost import TaskShape, shape_of
from ..presets import PRESETS
from ..models import check_fits
from ..tasks import REGISTRY, IOSpec, check_batch, make_task, resolve_config, task_class
from . import budget
from .i18n import plain, t
from .layout import TRAIN_PAGE
from .state import new_run, tab

CELL_CHOICES = {"RNN": ("rnn", "tanh"), "RNN-ReLU": ("rnn", "relu"), "LSTM": ("lstm", "tanh"), "GRU": ("gru", "tanh"),
                "Transformer": ("transformer", "tanh")}
TRANSFORMER = "Transformer"
# Options that a task change keeps; the rest come from the new task's defaults.
KEPT_ON_TASK_CHANGE = ("cell", "layers", "init", "init_gain", "forget_bias", "optimizer", "seed", "probe_every",
                       "bidirectional", "heads")


def widget_values(cfg: RunConfig) -> dict:
    """Every settings widget's value for a config."""
    flat = cfg.flat()
    values = {k: flat[k] for k in ("task", "variant", "attention", "hidden", "layers", "seq_len", "init", "init_gain",
                                   "forget_bias", "optimizer", "lr", "batch", "steps", "seed", "probe_every",
                                   "bidirectional", "heads")}
    values["cell"] = cell_choice(cfg)
    values["variant"] = values["variant"] or (task_class(cfg.task.name).variants or ("",))[0]
    values["clipping"] = cfg.train.clip > 0
    values["clip"] = cfg.train.clip if cfg.train.clip > 0 else TrainConfig.clip  # the threshold to use when switched on
    return values


def cell_choice(cfg: RunConfig) -> str:
    """The cell widget's code for a config: "RNN", "RNN-ReLU", "LSTM", "GRU" or "Transformer"."""
    nonlinearity = cfg.model.nonlinearity if cfg.model.cell == "rnn" else "tanh"
    return next(code for code, pair in CELL_CHOICES.items() if pair == (cfg.model.cell, nonlinearity))


def options_from(values: dict) -> dict:
    """Flat config options (the CLI's names) from widget values."""
    options = {k: v for k, v in values.items() if k not in ("cell", "clipping", "clip")}
    options["cell"], options["nonlinearity"] = CELL_CHOICES[values["cell"]]
    options["clip"] = float(values["clip"]) if values["clipping"] else 0.0
    return options


DEFAULTS = widget_values(resolve_config({"task": TaskConfig.name}))


def _query_string(values: dict) -> dict[str, str]:
    """Widget values as URL query parameters, in the form Streamlit reads back into bound widgets."""
    return {k: ("true" if v else "false") if isinstance(v, bool) else str(v) for k, v in values.items() if v != ""}


def load_options(options: dict, start: bool = False) -> None:
    """From another page: open the Train page with these flat options (over the task's defaults) in its
    controls, and train them now if start. Raises ValueError for options no config accepts. Call it from a
    button's `if`, not from a callback (it switches pages)."""
    cfg = resolve_config(options)
    if start:
        new_run(cfg)
    st.switch_page(TRAIN_PAGE, query_params=_query_string(widget_values(cfg)))


def load_preset(key: str, start: bool = False) -> None:
    """load_options for a preset, from another page."""
    load_options(PRESETS[key].options, start)


def show_later(cfg: RunConfig) -> None:
    """On the Train page, after its widgets were drawn: put cfg into them on the next run (see apply_pending)."""
    tab().pending_config = cfg
    st.rerun()


def apply_pending() -> None:
    """At the top of the Train page, before any widget: take over a config asked for by show_later."""
    state = tab()
    if state.pending_config is not None:
        st.session_state.update(widget_values(state.pending_config))
        state.pending_config = None


def _preset_here(key: str, start: bool) -> None:
    """Button callback on the Train page: the preset's settings into the widgets (and the URL)."""
    cfg = PRESETS[key].config()
    st.session_state.update(widget_values(cfg))
    if start:
        new_run(cfg)


# ---- the widgets -----------------------------------------------------------------------------

def bidirectional_refusal(cls, cell: str) -> str | None:
    """Why a model of this cell code cannot read both ways on this task class (a text key), or None where it can.
    The model refuses the same (models.check_fits); the page says it at the toggle, before Train is pressed."""
    if cell == TRANSFORMER:
        return "controls.bidirectional_off_transformer"
    if cls.causal:
        return "controls.bidirectional_off_causal"
    if cls.output == "seq2seq":
        return "controls.bidirectional_off_seq2seq"
    return None


def _on_task_change() -> None:
    """A new task brings its own defaults (sequence length, size, steps, attention ...)."""
    state = st.session_state
    kept = {k: state[k] for k in KEPT_ON_TASK_CHANGE if k in state}
    if kept.get("cell") == TRANSFORMER:
        kept["attention"] = "none"  # over the new task's default attention, which the transformer refuses
    if bidirectional_refusal(task_class(state["task"]), kept.get("cell", DEFAULTS["cell"])):
        kept["bidirectional"] = False
    kept_options = {k: v for k, v in options_from({**DEFAULTS, **kept}).items() if k in (*kept, "nonlinearity")}
    try:
        cfg = resolve_config({"task": state["task"], **kept_options})
    except ValueError:  # e.g. a cell the new task cannot take: fall back to the task's own defaults
        cfg = resolve_config({"task": state["task"]})
    for k, v in widget_values(cfg).items():
        state[k] = v


def _ensure_valid_choice(key: str, choices) -> None:
    """Before a select widget renders: a stale value (from another task or a hand-made URL) becomes the first choice."""
    if st.session_state.get(key, DEFAULTS[key]) not in choices:
        st.session_state[key] = choices[0]


@dataclass
class Settings:
    config: RunConfig | None  # None when the values do not make a valid config
    error: str | None


@dataclass(frozen=True)
class NumberField:
    """A number setting: the range its widget (and a value in the page's address) accepts, and how it steps."""

    lo: float
    hi: float
    integer: bool = True
    step: float | None = None
    fmt: str | None = None

    def accepts(self, raw: str) -> bool:
        """Whether the widget can take this text from the page's address (nan, inf and non-numbers it cannot)."""
        try:
            value = float(raw)
        except ValueError:
            return False
        return self.lo <= value <= self.hi and (value.is_integer() or not self.integer)

    def accepted(self) -> str:
        return f"{self.lo:g} – {self.hi:g}"


NUMBER_FIELDS = {
    "seq_len": NumberField(*LIMITS["seq_len"]),
    "hidden": NumberField(*LIMITS["hidden"]),
    "layers": NumberField(*LIMITS["layers"]),
    "init_gain": NumberField(LIMITS["init_gain"][0], 3.0, integer=False, step=0.05, fmt="%.2f"),
    "forget_bias": NumberField(*LIMITS["forget_bias"], integer=False, step=0.5, fmt="%.1f"),
    "lr": NumberField(*LIMITS["lr"], integer=False, step=1e-3, fmt="%g"),
    "batch": NumberField(*LIMITS["batch"]),
    "steps": NumberField(*LIMITS["steps"], step=100),
    "clip": NumberField(0.01, 100.0, integer=False, step=0.5, fmt="%g"),
    "seed": NumberField(LIMITS["seed"][0], 10**6),
    "probe_every": NumberField(LIMITS["probe_every"][0], 10_000, step=10),
    "heads": NumberField(*LIMITS["heads"]),
}
CHOICE_FIELDS = {"task": list(REGISTRY), "cell": list(CELL_CHOICES)}
TOGGLE_FIELDS = ("clipping", "bidirectional")  # in the address as true or false, as _query_string writes them
URL_REFUSED = "rnnviz_url_refused"  # session state: {setting: (value, what it accepts)} refused from the address


def _url_refusals() -> dict[str, tuple[str, str]]:
    """The settings whose value in the page's address their widget cannot take: {key: (value, accepted)}."""
    refused = {}
    for key, raw in st.query_params.to_dict().items():
        if key in NUMBER_FIELDS and not NUMBER_FIELDS[key].accepts(raw):
            refused[key] = (raw, NUMBER_FIELDS[key].accepted())
        elif key in CHOICE_FIELDS and raw not in CHOICE_FIELDS[key]:
            refused[key] = (raw, ", ".join(CHOICE_FIELDS[key]))
        elif key in TOGGLE_FIELDS and raw not in ("true", "false"):
            refused[key] = (raw, "true, false")
    return refused


def refuse_bad_url_values() -> None:
    """Before the settings widgets: a value in the page's address that a widget cannot take is taken out of the
    address, so that no widget reads it, and said above the settings. A widget bound to the address reads it
    itself when the tab opens, and Streamlit's number input raises OverflowError on an integer setting given
    ?hidden=1e309 (other bad values it ignores without a word). A value the script sets outranks the address once the
    widget is bound (a tab reloaded into its old session); before that, only a run without it in the address does."""
    refused = _url_refusals()
    if not refused:
        return
    st.session_state[URL_REFUSED] = {**st.session_state.get(URL_REFUSED, {}), **refused}
    rerun = False
    for key in refused:
        try:
            del st.query_params[key]
            rerun = True
        except StreamlitAPIException:  # bound to its widget already
            st.session_state[key] = st.session_state.get(key, DEFAULTS[key])
    if rerun:
        st.rerun()


def _say_url_refusals() -> None:
    """Above the settings, full width (in a half column the words break apart, "accepte d:"): each value from the
    page's address that a setting refused (see refuse_bad_url_values), once."""
    for key, (value, accepted) in st.session_state.pop(URL_REFUSED, {}).items():
        st.warning(t("controls.url_refused", name=key, value=plain(value), accepted=accepted), icon=":material/link_off:")


def _number(key: str):
    spec = NUMBER_FIELDS[key]
    kind = int if spec.integer else float
    return st.number_input(t(f"controls.{key}"), min_value=kind(spec.lo), max_value=kind(spec.hi),
                           value=kind(DEFAULTS[key]), step=kind(spec.step) if spec.step is not None else None,
                           format=spec.fmt, key=key, bind="query-params",
                           help=t(f"controls.{key}_help", lo=kind(spec.lo), hi=kind(spec.hi)))


def settings(disabled: bool = False) -> None:
    """Draw every setting; the caller places them (e.g. in an expander) and reads current_settings()."""
    refuse_bad_url_values()
    _say_url_refusals()
    state = st.session_state
    task_names = CHOICE_FIELDS["task"]
    col_task, col_model, col_train = st.columns(3, gap="large")
    with col_task:
        st.markdown(f"**{t('controls.task_group')}**")
        st.selectbox(t("controls.task"), task_names, index=task_names.index(DEFAULTS["task"]), key="task",
                     on_change=_on_task_change, bind="query-params", disabled=disabled)
        cls = task_class(state.get("task", DEFAULTS["task"]))
        st.caption(f"**{t(f'tasks.{cls.name}.title')}.** {t(f'tasks.{cls.name}.summary')}")
        if cls.variants:
            _ensure_valid_choice("variant", cls.variants)
            st.selectbox(t("controls.variant"), cls.variants, key="variant", bind="query-params", disabled=disabled,
                         help=_explain(f"tasks.{cls.name}.variant_", cls.variants))
        _number("seq_len")
    with col_model:
        st.markdown(f"**{t('controls.model_group')}**")
        choices = CHOICE_FIELDS["cell"]
        st.selectbox(t("controls.cell"), choices, index=choices.index(DEFAULTS["cell"]), key="cell",
                     bind="query-params", disabled=disabled, help=t("controls.cell_help"))
        transformer = state.get("cell", DEFAULTS["cell"]) == TRANSFORMER
        attention_choices = [a for a in ATTENTIONS if a in cls.attention]
        if transformer:  # attention pooling is refused for it: the picker would only offer an impossible config
            state["attention"] = "none"
            st.caption(t("controls.attention_transformer"))
        elif len(attention_choices) > 1:
            _ensure_valid_choice("attention", attention_choices)
            st.selectbox(t("controls.attention"), attention_choices, key="attention", bind="query-params",
                         disabled=disabled, help=_explain("controls.attention_", attention_choices))
        else:
            state["attention"] = attention_choices[0]
        left, right = st.columns(2)
        with left:
            _number("hidden")
        with right:
            _number("layers")
        _bidirectional_toggle(cls, disabled)  # a row of its own: half a column cuts its label short
        if transformer:
            _number("heads")
        st.selectbox(t("controls.init"), INITS, key="init", bind="query-params", disabled=disabled,
                     help=_explain("controls.init_", INITS))
        left, right = st.columns(2)
        with left:
            _number("init_gain")
        with right:
            _number("forget_bias")
    with col_train:
        st.markdown(f"**{t('controls.train_group')}**")
        left, right = st.columns(2)
        with left:
            st.selectbox(t("controls.optimizer"), OPTIMIZERS, key="optimizer", bind="query-params", disabled=disabled)
        with right:
            _number("lr")
        left, right = st.columns(2)
        with left:
            _number("batch")
        with right:
            _number("steps")
        st.toggle(t("controls.clipping"), value=DEFAULTS["clipping"], key="clipping", bind="query-params",
                  help=t("controls.clipping_help"), disabled=disabled)  # a row of its own, like bidirectional's
        left, right = st.columns(2)
        with left:
            _number("clip")
        with right:
            _number("seed")
        left, _ = st.columns(2)
        with left:
            _number("probe_every")


def _bidirectional_toggle(cls, disabled: bool) -> None:
    """The toggle for reading both ways, off and disabled, with the reason as its help, where the model refuses it."""
    state = st.session_state
    refusal = bidirectional_refusal(cls, state.get("cell", DEFAULTS["cell"]))
    if refusal:
        _turn_off_bidirectional()
    st.toggle(t("controls.bidirectional"), value=DEFAULTS["bidirectional"], key="bidirectional", bind="query-params",
              disabled=disabled or refusal is not None, help=t(refusal or "controls.bidirectional_help"))


def _turn_off_bidirectional() -> None:
    """Off, even where the page's address says on: a toggle not yet bound reads the address over the script's value
    (see refuse_bad_url_values), so the address loses it first; a disabled toggle left on could not be switched off."""
    if "bidirectional" in st.query_params:
        try:
            del st.query_params["bidirectional"]
        except StreamlitAPIException:  # bound to its widget already: the script's value wins
            pass
        else:
            st.rerun()
    st.session_state["bidirectional"] = False


def _explain(prefix: str, codes) -> str:
    """Help text naming what each code of a select widget means, in the reader's language."""
    return "\n".join(f"- **{code}**: {t(prefix + code)}" for code in codes)


def current_settings() -> Settings:
    """The config the settings widgets (and this tab's uploaded data) make, or the reason they make none."""
    options = options_from({k: st.session_state.get(k, v) for k, v in DEFAULTS.items()})
    if not task_class(options["task"]).variants:
        options["variant"] = ""  # left over from a task that had variants
    data = tab().data_for(options["task"])
    if data is not None:
        options["data"], options["column"] = data
    try:
        config = resolve_config(options)
        windows, shape, io = check_task(config.task)
        check_fits(config.model, io)  # e.g. the transformer on an encoder-decoder task
        check_batch(config.train.batch, windows)
        budget.check(config, shape)  # before anything is allocated: Train stays disabled with the reason
    except ValueError as err:
        return Settings(None, str(err))
    return Settings(config, None)


def check_task(task: TaskConfig) -> tuple[int | None, TaskShape, IOSpec]:
    """Build the task once per distinct task config, so what only the task can check (a sequence length too
    short for its sentences, an unusable file) is reported with the settings. Raises ValueError. Returns the
    task's training windows (see Task.windows), its shapes for the cost estimate and its inputs and outputs."""
    outcome = _task_outcome(task)
    if isinstance(outcome, str):
        raise ValueError(outcome)
    return outcome


@lru_cache(maxsize=2048)
def _task_outcome(task: TaskConfig) -> tuple[int | None, TaskShape, IOSpec] | str:
    """The task's training windows and shapes, or why it cannot be built: a refusal is kept too, or every rerun of
    a page showing it would read the file again. Kept server-wide, out of the reach of Streamlit's clear-cache
    message, and small: numbers or a message, not the task, which can hold megabytes of text; so there is room for
    every tab of a class with a few uploads each, whose reruns would read their files again once evicted. A config
    names its data file by path, and a path in a tab's folder holds one content for good (files.data_upload)."""
    try:
        built = make_task(task)
    except ValueError as err:
        return str(err)
    return built.windows, shape_of(built), built.io


def share_link() -> str:
    """The Train page's address with every setting that differs from its default, as the browser shows it."""
    values = {k: st.session_state.get(k, v) for k, v in DEFAULTS.items()}
    changed = {k: v for k, v in _query_string(values).items() if v != _query_string({k: DEFAULTS[k]}).get(k)}
    base = (st.context.url or "").rstrip("/")  # the Train page, the default one, lives at the app's root
    return f"{base}/?{urlencode(changed)}" if changed else f"{base}/"


def describe_changes(old: RunConfig, new: RunConfig) -> str:
    """ "hidden 64 → 128, lr 0.003 → 0.01": the options that differ between two configs, ready to show (a data
    file by its name, not its server path; user text made inert)."""
    a, b = old.flat(), new.flat()
    return ", ".join(f"{k} {_shown_option(k, a[k])} → {_shown_option(k, b[k])}" for k in a if a[k] != b[k])


def _shown_option(key: str, value) -> str:
    return plain(Path(value).name if key == "data" and value else value)


def preset_picker() -> None:
    """A row to pick a ready-made experiment, read what it shows, and load it (optionally training at once)."""
    keys = list(PRESETS)
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    with left:
        key = st.selectbox(t("presets.pick"), keys, format_func=lambda k: t(f"presets.{k}.title"), key="preset_choice")
    with right:
        load, run = st.columns(2)
        load.button(t("presets.load"), width="stretch", on_click=_preset_here, args=(key, False))
        run.button(t("presets.load_and_train"), type="primary", width="stretch", on_click=_preset_here, args=(key, True))
    st.caption(t(f"presets.{key}.description"))
