"""Lessons: guided walkthroughs for a class, one step at a time; lesson and step are in the address."""
import streamlit as st

from rnnviz.curriculum import LESSONS
from rnnviz.ui import curriculum
from rnnviz.ui.i18n import t


def restart() -> None:
    st.session_state["step"] = 1
    curriculum.remember_lesson()


def move(by: int) -> None:
    st.session_state["step"] += by
    curriculum.remember_lesson()


st.title(t("lessons.title"))
st.markdown(t("lessons.intro"))
curriculum.return_to_lesson()
number = st.segmented_control(t("lessons.pick"), range(1, len(LESSONS) + 1), default=1, required=True, key="lesson",
                              bind="query-params", persist_state="session", on_change=restart)
lesson = LESSONS[number - 1]
st.header(f"{number} · {t(f'lessons.{lesson.key}.title')}", divider="gray")
st.caption(t(f"lessons.{lesson.key}.goal"))

count = len(lesson.steps)
index = st.segmented_control(t("lessons.step"), range(1, count + 1), default=1, required=True, key="step",
                             bind="query-params", persist_state="session", on_change=curriculum.remember_lesson)
step = lesson.steps[index - 1]
curriculum.remember_lesson()
text = f"lessons.{lesson.key}.{step.key}"

st.subheader(t("lessons.step_title", n=index, total=count, title=t(f"{text}.title")))
st.markdown(t(f"{text}.text"))
if step.preset:
    curriculum.preset_button(step.preset, step.action, key=f"{text}.button", primary=True)
if step.page and (not step.preset or step.page not in ("train", "compare")):
    curriculum.page_link(step.page, step.lab)

st.info(f"**{t('lessons.notice')}** {t(f'{text}.notice')}", icon=":material/visibility:")
st.warning(f"**{t('lessons.question')}** {t(f'{text}.question')}", icon=":material/help:")
with st.expander(t("lessons.answer")):
    st.markdown(t(f"{text}.answer"))

back, _, forward = st.columns([1, 3, 1])
back.button(t("lessons.back"), on_click=move, args=(-1,), disabled=index == 1, icon=":material/arrow_back:",
            width="stretch")
forward.button(t("lessons.next"), on_click=move, args=(1,), disabled=index == count, icon=":material/arrow_forward:",
               width="stretch", type="primary")
