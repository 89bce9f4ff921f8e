"""The Train page's settings widgets: where each setting is drawn, what it refuses, and the config they make.

What the settings are (their keys, ranges, choices, defaults) is declared in rnnviz.ui.fields; their address in
rnnviz.ui.address; a config reaches them only through rnnviz.ui.pending.show. Number widgets take whatever is
typed: a value out of its setting's range is shown with the error beside it, and Train stays disabled until it is
fixed, so a run never trains on a value the user did not give.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException

from ..config import ATTENTIONS, INITS, OPTIMIZERS, RunConfig, TaskConfig, bidirectional_refusal
from ..cost import TaskShape, shape_of
from ..models import check_fits
from ..tasks import IOSpec, check_batch, make_task, resolve_config, task_class
from . import budget
from .address import refuse_bad_url_values, say_url_refusals
from .fields import CELL_CHOICES, DEFAULTS, KEPT_ON_TASK_CHANGE, NUMBERS, SETTINGS, TRANSFORMER, options_from
from .i18n import plain, t
from .pending import show
from .state import tab


def _bidirectional_refusal(cls, cell: str) -> str | None:
    """The text key of why a model of this cell code cannot read both ways on this task class, or None where it can."""
    code = bidirectional_refusal(CELL_CHOICES[cell][0], cls.output, cls.causal)
    return f"controls.bidirectional_off_{code}" if code else None


def _on_task_change() -> None:
    """A new task brings its own defaults (sequence length, size, steps, attention ...)."""
    state = st.session_state
    kept = {k: state[k] for k in KEPT_ON_TASK_CHANGE if k in state}
    if kept.get("cell") == TRANSFORMER:
        kept["attention"] = "none"  # over the new task's default attention, which the transformer refuses
    if _bidirectional_refusal(task_class(state["task"]), kept.get("cell", DEFAULTS["cell"])):
        kept["bidirectional"] = False
    kept_options = {k: v for k, v in options_from({**DEFAULTS, **kept}).items() if k in (*kept, "nonlinearity")}
    try:
        show(resolve_config({"task": state["task"], **kept_options}))
    except ValueError:  # e.g. a cell the new task cannot take, or a kept value out of range: the task's own defaults
        show(resolve_config({"task": state["task"]}))


def _ensure_valid_choice(key: str, choices) -> None:
    """Before a select widget renders: a stale value (from another task or a hand-made URL) becomes the first choice."""
    if st.session_state.get(key, DEFAULTS[key]) not in choices:
        st.session_state[key] = choices[0]


@dataclass
class Settings:
    config: RunConfig | None  # None when the values do not make a valid config
    error: str | None


def _number(key: str):
    """A number widget that takes whatever is typed; a value out of the setting's range is said beside it.
    Every number widget is a float one, whole settings drawn without decimals: the browser reads an integer widget's
    text with parseInt, so a typed 1e9 would become 1 and train as 1; a float widget hands over 1e9 to be refused."""
    spec = NUMBERS[key]
    value = st.number_input(t(f"controls.{key}"), value=float(DEFAULTS[key]), step=float(spec.step or 1),
                            format=spec.fmt or "%d", key=key, bind="query-params",
                            help=t(f"controls.{key}_help", **spec.bounds()))
    if value is not None and not spec.holds(value):  # short: half a column; the whole sentence is at Train
        st.error(t("controls.out_of_range_short", value=_typed(key), accepted=spec.accepted()))
    return value


def _typed(key: str) -> str:
    return NUMBERS[key].shown(st.session_state[key])


def _out_of_range(key: str) -> str:
    """Why the typed value of a number setting is refused, naming the value."""
    spec = NUMBERS[key]
    return t("controls.out_of_range", name=t(f"controls.{key}"), value=_typed(key), accepted=spec.accepted())


def _out_of_range_errors() -> list[str]:
    """Why each number setting drawn now refuses its typed value (heads is drawn for the transformer only)."""
    drawn = [k for k in NUMBERS if k != "heads" or st.session_state.get("cell", DEFAULTS["cell"]) == TRANSFORMER]
    values = {k: st.session_state.get(k, DEFAULTS[k]) for k in drawn}
    return [_out_of_range(k) for k, v in values.items() if v is not None and not NUMBERS[k].holds(v)]


def settings(disabled: bool = False) -> None:
    """Draw every setting; the caller places them (e.g. in an expander) and reads current_settings()."""
    refuse_bad_url_values()
    say_url_refusals()
    state = st.session_state
    task_names = list(SETTINGS["task"].options)
    col_task, col_model, col_train = st.columns(3, gap="large")
    with col_task:
        st.markdown(f"**{t('controls.task_group')}**")
        st.selectbox(t("controls.task"), task_names, index=task_names.index(DEFAULTS["task"]), key="task",
                     on_change=_on_task_change, bind="query-params", disabled=disabled)
        cls = task_class(state.get("task", DEFAULTS["task"]))
        st.caption(f"**{t(f'tasks.{cls.name}.title')}.** {t(f'tasks.{cls.name}.summary')}")
        data = tab().data_for(cls.name)
        if cls.variants and data is not None:  # the user's file replaces the variant's data
            st.caption(t("controls.variant_file", name=plain(Path(data[0]).name)))
        elif cls.variants:
            _ensure_valid_choice("variant", cls.variants)
            st.selectbox(t("controls.variant"), cls.variants, key="variant", bind="query-params", disabled=disabled,
                         help=_explain(f"tasks.{cls.name}.variant_", cls.variants))
        _number("seq_len")
    with col_model:
        st.markdown(f"**{t('controls.model_group')}**")
        choices = list(SETTINGS["cell"].options)
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
    refusal = _bidirectional_refusal(cls, state.get("cell", DEFAULTS["cell"]))
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
    out_of_range = _out_of_range_errors()
    if out_of_range:
        return Settings(None, " ".join(out_of_range))
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


def describe_changes(old: RunConfig, new: RunConfig) -> str:
    """ "hidden 64 → 128, lr 0.003 → 0.01": the options that differ between two configs, ready to show (a data
    file by its name, not its server path; user text made inert)."""
    a, b = old.flat(), new.flat()
    return ", ".join(f"{k} {_shown_option(k, a[k])} → {_shown_option(k, b[k])}" for k in a if a[k] != b[k])


def _shown_option(key: str, value) -> str:
    return plain(Path(value).name if key == "data" and value else value)
