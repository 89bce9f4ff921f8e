"""The pages read a run only through its interface: rnnviz.background.BackgroundRun's public methods and properties
(the snapshot, trace_at, copy_model, cfg / task / probe_batch, the controls). Nothing in rnnviz/ui or views/ reaches
into the Trainer behind it (its model, history, lr, step arithmetic), which its training thread writes meanwhile.
The check reads the source: every attribute of a name that holds a run there (trainer, restored, first, r, current,
and any `<something>.trainer`) must be one of BackgroundRun's public names."""
from __future__ import annotations

import ast

from conftest import ROOT

from rnnviz.background import BackgroundRun

RUN_NAMES = {"trainer", "restored", "first", "r", "current"}  # what the UI calls a BackgroundRun


def holds_a_run(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id in RUN_NAMES) or (isinstance(node, ast.Attribute) and node.attr == "trainer")


def run_reads(source: str) -> list[tuple[int, str]]:
    """(line, expression) of every attribute read of a run in source."""
    return [(node.lineno, ast.unparse(node)) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Attribute) and holds_a_run(node.value)]


def test_the_pages_read_runs_only_through_the_background_runs_interface():
    public = {name for name in dir(BackgroundRun) if not name.startswith("_")}
    files = sorted([*(ROOT / "rnnviz" / "ui").glob("*.py"), *(ROOT / "views").glob("*.py")])
    reads = {path.relative_to(ROOT): run_reads(path.read_text()) for path in files}
    outside = [f"{path}:{line} {expr}" for path, found in reads.items() for line, expr in found
               if expr.rsplit(".", 1)[1] not in public]
    assert sum(map(len, reads.values())) > 50, "the check finds the pages' runs"
    assert not outside, outside


def test_the_check_sees_a_page_reaching_into_the_trainer():
    reads = run_reads("trainer.snapshot()\nwith state.trainer.held():\n    tab().trainer.model.eval()\n")
    assert [expr for _, expr in reads] == ["trainer.snapshot", "state.trainer.held", "tab().trainer.model"]
