"""Both notebooks execute on the quickstart's output, so they never rot."""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"


@pytest.mark.parametrize("name,env", [
    ("granularity_analysis.ipynb", {"GRACO_RESULTS": "results.json"}),
    ("proposal_gallery.ipynb", {"GRACO_STORE": "proposals"}),
])
def test_notebook_runs(quickstart_out, monkeypatch, name, env):
  for key, relative in env.items():
    monkeypatch.setenv(key, str(quickstart_out / relative))
  notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
  NotebookClient(notebook, timeout=300, kernel_name="python3",
                 resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
  outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
  assert not [o for o in outputs if o.output_type == "error"]
  assert any("image/png" in o.get("data", {}) for o in outputs)  # the figures were drawn
