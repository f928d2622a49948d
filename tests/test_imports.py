"""The package's import graph, read from the source (function-local imports included), has no
cycle: each layer can be read, tested and reused without the layers above it."""

import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "graco_jax")


def _modules():
  """{dotted module name: file path} of every module of the package."""
  root = os.path.dirname(PACKAGE)
  modules = {}
  for folder, _, files in os.walk(PACKAGE):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(folder, name)
        dotted = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
        modules[dotted.removesuffix(".__init__")] = path
  return modules


def import_graph():
  """{module: set of graco_jax modules it imports}; `from pkg import mod` counts as mod."""
  modules = _modules()
  graph = {}
  for name, path in modules.items():
    with open(path, encoding="utf-8") as f:
      tree = ast.parse(f.read(), path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        targets.update(a.name for a in node.names)
      elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
          base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                          + ([base] if base else []))
        for alias in node.names:
          full = f"{base}.{alias.name}"
          targets.add(full if full in modules else base)
    graph[name] = {t for t in targets if t in modules and t != name}
  return graph


def find_cycle(graph):
  """One cycle as a list of modules, or None."""
  state = {}

  def visit(node, path):
    state[node] = "open"
    for nxt in sorted(graph[node]):
      if state.get(nxt) == "open":
        return path[path.index(nxt):] + [nxt]
      if nxt not in state:
        cycle = visit(nxt, path + [nxt])
        if cycle:
          return cycle
    state[node] = "done"
    return None

  for start in sorted(graph):
    if start not in state:
      cycle = visit(start, [start])
      if cycle:
        return cycle
  return None


def test_find_cycle_finds_a_hand_made_cycle():
  assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
  assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_graph_sees_the_known_edges():
  graph = import_graph()
  assert "graco_jax.interaction.zoom" in graph["graco_jax.predictor"]
  assert "graco_jax.data.registry" in graph["graco_jax.training.loop"]
  assert "graco_jax.data.proposal_store" in graph["graco_jax.agg.generate"]


def test_package_has_no_import_cycle():
  cycle = find_cycle(import_graph())
  if cycle:
    pytest.fail("import cycle: " + " -> ".join(cycle))
