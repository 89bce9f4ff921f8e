"""A browser tab without the browser: one app session over Streamlit's websocket, for tests that need many.

`Session` connects to `/_stcore/stream` as the frontend does, asks for script runs (with the page's
query string and, for a button press, the button's trigger), and keeps the elements of the last full
run. `poll()` plays the frontend's part in live fragments: Streamlit tells the client to rerun a
fragment every `interval` seconds (an `auto_rerun` message) and the client asks for those reruns, so
a session that polls refreshes like an open tab, and one that does not costs the server no redraws.
"""
from __future__ import annotations

import time

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.sync.client import connect

EARLY = ForwardMsg.FINISHED_EARLY_FOR_RERUN  # a run cut short by st.rerun(): another one follows


class Session:
    def __init__(self, url: str, query: str = "", timeout: float = 120.0):
        self.query, self.timeout = query, timeout
        self.ws = connect(url.replace("http://", "ws://") + "/_stcore/stream", subprotocols=["streamlit"],
                          max_size=None, open_timeout=timeout)
        self.elements: list = []  # Element protos of the last full run, in order
        self.fragments: dict[str, float] = {}  # fragment id -> auto-rerun interval, as the server asked
        self.refreshes: dict[str, list[float]] = {}  # fragment id -> monotonic times its reruns finished
        self.bytes = 0  # everything the server sent
        self.run()

    def close(self) -> None:
        self.ws.close()

    # ---- script runs ---------------------------------------------------------------------------
    def run(self, widgets: list[WidgetState] = (), fragment_id: str = "") -> list:
        """Ask for a script run (a fragment's, when fragment_id is given) and wait until it has finished."""
        msg = BackMsg()
        msg.rerun_script.query_string = self.query
        msg.rerun_script.widget_states.widgets.extend(widgets)
        if fragment_id:
            msg.rerun_script.fragment_id = fragment_id
            msg.rerun_script.is_auto_rerun = True
        self.ws.send(msg.SerializeToString())
        elements = []
        deadline = time.monotonic() + self.timeout
        while True:
            forward = self._receive(deadline)
            kind = forward.WhichOneof("type")
            if kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                elements.append(forward.delta.new_element)
            elif kind == "script_finished" and forward.script_finished != EARLY:
                break
            elif kind == "script_finished":
                elements = []  # the rerun that follows draws the page afresh
        if fragment_id:
            self.refreshes.setdefault(fragment_id, []).append(time.monotonic())
        else:
            self.elements = elements
        return elements

    def _receive(self, deadline: float) -> ForwardMsg:
        data = self.ws.recv(timeout=max(0.0, deadline - time.monotonic()))
        self.bytes += len(data)
        forward = ForwardMsg.FromString(data)
        kind = forward.WhichOneof("type")
        if kind == "auto_rerun":
            self.fragments[forward.auto_rerun.fragment_id] = forward.auto_rerun.interval
        elif kind == "stop_auto_rerun":
            self.fragments.clear()
        return forward

    def click(self, label: str) -> list:
        """Press the button with this label (from the last full run) and wait for the page to be drawn again."""
        ids = [e.button.id for e in self.elements if e.WhichOneof("type") == "button" and e.button.label == label]
        assert ids, f"no button {label!r}"
        return self.run([WidgetState(id=ids[0], trigger_value=True)])

    def poll(self, seconds: float) -> None:
        """Rerun the live fragments on their intervals for this long, as an open tab's frontend does."""
        end = time.monotonic() + seconds
        due = {fid: time.monotonic() for fid in self.fragments}
        while time.monotonic() < end and self.fragments:
            fid, when = min(due.items(), key=lambda item: item[1])
            time.sleep(max(0.0, when - time.monotonic()))
            self.run(fragment_id=fid)
            due = {f: due.get(f, time.monotonic()) for f in self.fragments}  # fragments the server still runs
            if fid in due:
                due[fid] = max(when + self.fragments[fid], time.monotonic())

    def refresh_rate(self, start: float, end: float) -> float:
        """Reruns per second of the fastest live fragment (the main live view) between two monotonic times."""
        if not self.refreshes:
            return 0.0
        fastest = min(self.refreshes, key=lambda fid: self.fragments.get(fid, float("inf")))
        return sum(start <= t <= end for t in self.refreshes[fastest]) / (end - start)

    # ---- what the page shows -------------------------------------------------------------------
    def texts(self, kind: str) -> list[str]:
        """Texts of the last full run's elements of one kind: "markdown", "alert", "metric" (its value),
        "progress" (its caption) ..."""
        found = [getattr(e, kind) for e in self.elements if e.WhichOneof("type") == kind]
        return [e.text if kind == "progress" else e.body for e in found]
