"""The engine needs only torch, numpy and safetensors: it imports and runs with the app's libraries blocked."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT

ENGINE = ["config", "families", "seeded", "cells", "transformer", "models", "attention", "tasks", "probe", "status",
          "train", "runs", "cost", "patterns", "theory.jacobians", "theory.lab", "theory.cliff", "curriculum", "bench",
          "presets", "__main__", "notebook", "saliency", "importer"]
BLOCKED = ["streamlit", "plotly", "pandas", "scipy", "matplotlib"]

SCRIPT = f"""
import importlib, sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError("blocked: " + name)

sys.meta_path.insert(0, Block())
for module in {ENGINE!r}:
    importlib.import_module("rnnviz." + module)
from rnnviz.__main__ import main
sys.exit(main(["tasks"]))
"""


def test_engine_imports_and_runs_without_the_apps_libraries():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "adding" in done.stdout and "reversal" in done.stdout
