"""A browser tab without the browser: one app session over Streamlit's websocket, for tests that need many.

`Session` connects to `/_stcore/stream` as the frontend does, asks for script runs (with the page's
query string and, for a button press, the button's trigger), and keeps the elements of the last full
run. `poll()` plays the frontend's part in live fragments: Streamlit tells the client to rerun a
fragment every `interval` seconds (an `auto_rerun` message) and the client asks for those reruns on
a timer, so a session that polls refreshes like an open tab, and one that does not costs the server
no redraws. `LiveCounter` counts finished reruns per fragment, from the messages a session receives.
"""
from __future__ import annotations

import time

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.sync.client import connect

EARLY = ForwardMsg.FINISHED_EARLY_FOR_RERUN  # a run cut short by st.rerun(): another one follows


class LiveCounter:
    """The live fragments a page polls and when each of their reruns finished, from the server's messages
    (the messages a browser tab receives work as well: see test_sessions.py)."""

    def __init__(self):
        self.intervals: dict[str, float] = {}  # fragment id -> auto-rerun interval, as the server asked
        self.finished: dict[str, list[float]] = {}  # fragment id -> monotonic times its reruns finished

    def take(self, forward: ForwardMsg) -> None:
        kind = forward.WhichOneof("type")
        if kind == "auto_rerun":
            self.intervals[forward.auto_rerun.fragment_id] = forward.auto_rerun.interval
        elif kind == "stop_auto_rerun":
            self.intervals.clear()
        elif kind == "script_finished":
            for fragment_id in forward.metadata.run.fragment_ids:
                self.finished.setdefault(fragment_id, []).append(time.monotonic())

    def rate(self, start: float, end: float) -> float:
        """Reruns per second of the fastest live fragment (the main live view) between two monotonic times."""
        if not self.finished:
            return 0.0
        fastest = min(self.finished, key=lambda fid: self.intervals.get(fid, float("inf")))
        return sum(start <= t <= end for t in self.finished[fastest]) / (end - start)


class Session:
    def __init__(self, url: str, query: str = "", timeout: float = 120.0, page: str = ""):
        self.query, self.timeout = query, timeout
        self.page = page  # the page's url path ("gates"); "" is the default page
        self.ws = connect(url.replace("http://", "ws://") + "/_stcore/stream", subprotocols=["streamlit"],
                          max_size=None, open_timeout=timeout, ping_interval=None,  # browsers send no pings either
                          legacy=True)  # the connection itself; close() ends it
        self.elements: list = []  # Element protos of the last full run, in order
        self.live = LiveCounter()
        self.bytes = 0  # everything the server sent
        self._fragment_run = False  # whether the messages coming in belong to a fragment rerun
        self.run()

    def close(self) -> None:
        self.ws.close()

    # ---- script runs ---------------------------------------------------------------------------
    def _request(self, widgets: list[WidgetState] = (), fragment_id: str = "") -> None:
        msg = BackMsg()
        msg.rerun_script.query_string = self.query
        msg.rerun_script.page_name = self.page
        msg.rerun_script.widget_states.widgets.extend(widgets)
        if fragment_id:
            msg.rerun_script.fragment_id = fragment_id
            msg.rerun_script.is_auto_rerun = True
        self.ws.send(msg.SerializeToString())

    def run(self, widgets: list[WidgetState] = ()) -> list:
        """Ask for a full script run and wait until it has finished; returns (and keeps) its elements."""
        self._request(widgets)
        elements = []
        deadline = time.monotonic() + self.timeout
        while True:
            forward = self._receive(deadline)
            kind = forward.WhichOneof("type")
            if self._fragment_run:
                continue  # a fragment rerun asked for earlier, finishing first
            if kind == "new_session":
                elements = []  # a full run starts: the page is drawn afresh
            elif kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                elements.append(forward.delta.new_element)
            elif kind == "script_finished" and forward.script_finished != EARLY:
                self.elements = elements
                return elements

    def _receive(self, deadline: float) -> ForwardMsg:
        """The next message. A run's first message (new_session) and its last (script_finished) name the
        fragments it reruns; the deltas between them do not, so the run they belong to is remembered."""
        data = self.ws.recv(timeout=max(0.0, deadline - time.monotonic()))
        self.bytes += len(data)
        forward = ForwardMsg.FromString(data)
        kind = forward.WhichOneof("type")
        if kind in ("new_session", "script_finished"):
            self._fragment_run = bool(forward.metadata.run.fragment_ids)
        self.live.take(forward)
        return forward

    def click(self, label: str) -> list:
        """Press the button with this label (from the last full run) and wait for the page to be drawn again."""
        ids = [e.button.id for e in self.elements if e.WhichOneof("type") == "button" and e.button.label == label]
        assert ids, f"no button {label!r}"
        return self.run([WidgetState(id=ids[0], trigger_value=True)])

    def open(self, page: str) -> list:
        """Switch to another page (its url path, as in the navigation) and wait until it is drawn."""
        self.page = page
        return self.run()

    def widget(self, kind: str, label: str):
        """The last full run's widget of this element kind ("slider", "selectbox" ...) and label."""
        found = [getattr(e, kind) for e in self.elements if e.WhichOneof("type") == kind and getattr(e, kind).label == label]
        assert found, f"no {kind} {label!r}"
        return found[0]

    def choose(self, kind: str, label: str, value) -> list:
        """Set a widget as a user would and wait for the page: a select_slider, selectbox or segmented control
        to the option shown as `value` (a string), a numeric slider to the number `value`."""
        proto = self.widget(kind, label)
        state = WidgetState(id=proto.id)
        if kind == "selectbox":
            state.string_value = value
        elif kind == "button_group" or (kind == "slider" and proto.options):
            state.string_array_value.data.append(value)
        elif kind == "slider":
            state.double_array_value.data.append(float(value))
        else:
            raise ValueError(f"no way to set a {kind}")
        return self.run([state])

    def poll(self, seconds: float) -> None:
        """For this long, ask for each live fragment's rerun on its interval, as an open tab's frontend does (on
        a timer, not waiting for the previous rerun), and take in what the server sends back."""
        now = time.monotonic()
        intervals = self.live.intervals
        end, due = now + seconds, {fid: now for fid in intervals}
        while now < end:
            for fid, when in due.items():
                if when <= now and fid in intervals:
                    self._request(fragment_id=fid)
                    due[fid] = when + intervals[fid]
            try:
                self._receive(min(end, *due.values()))
            except TimeoutError:
                pass
            now = time.monotonic()

    # ---- what the page shows -------------------------------------------------------------------
    def texts(self, kind: str) -> list[str]:
        """Texts of the last full run's elements of one kind: "markdown", "alert", "metric" (its value),
        "progress" (its caption) ..."""
        found = [getattr(e, kind) for e in self.elements if e.WhichOneof("type") == kind]
        return [e.text if kind == "progress" else e.body for e in found]
