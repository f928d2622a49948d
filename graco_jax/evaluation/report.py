"""Evaluation reports: the paper's Table 1 as markdown, results JSON, IoU curves as PNG."""

import json
import math

import numpy as np

from graco_jax import io

PART_DATASETS = ("PascalPart", "PartImageNet")


def _cell(value, digits=2):
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return "-"
  return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown_table(method: str, summaries: dict, max_clicks: int = 20) -> str:
  """Table 1 layout: one row, NoC@85 / NoC@90 per object dataset, NoC@85 per part dataset;
  then a second table with IoU@1, the over-the-limit counts and the timing."""
  names = list(summaries)
  head = ["Method"]
  sub = [""]
  row = [method]
  for name in names:
    s = summaries[name]
    if name in PART_DATASETS:
      head.append(name)
      sub.append("NoC@85")
      row.append(_cell(s.get("noc@85")))
    else:
      head += [name, ""]
      sub += ["NoC@85", "NoC@90"]
      row += [_cell(s.get("noc@85")), _cell(s.get("noc@90"))]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
           "| " + " | ".join(sub) + " |", "| " + " | ".join(row) + " |", ""]
  lines += [f"| Dataset | instances | IoU@1 | >={max_clicks}@85 | >={max_clicks}@90 | s/click | time (s) |",
            "|---|---|---|---|---|---|---|"]
  for name in names:
    s = summaries[name]
    lines.append(f"| {name} | {s['num_instances']} | {_cell(s.get('iou@1'), 4)} | "
                 f"{_cell(s.get(f'>={max_clicks}@85'))} | {_cell(s.get(f'>={max_clicks}@90'))} | "
                 f"{_cell(s.get('seconds_per_click'), 4)} | {_cell(s.get('elapsed_s'), 1)} |")
  return "\n".join(lines) + "\n"


def json_ready(tree):
  """Numpy arrays and scalars as plain JSON values; NaN and inf as null."""
  if isinstance(tree, dict):
    return {k: json_ready(v) for k, v in tree.items()}
  if isinstance(tree, (list, tuple)):
    return [json_ready(v) for v in tree]
  if isinstance(tree, np.ndarray):
    return json_ready(tree.tolist())
  if isinstance(tree, (np.floating, float)):
    return None if not np.isfinite(tree) else float(tree)
  if isinstance(tree, (np.integer, np.bool_)):
    return tree.item()
  return tree


def write_json(path: str, data) -> None:
  text = json.dumps(json_ready(data), indent=1, sort_keys=True, ensure_ascii=False,
                    allow_nan=False)
  io.atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def pyplot():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def save_figure(fig, path: str) -> None:
  io.write_figure(path, fig, dpi=100)


def _panels(count):
  fig, axes = pyplot().subplots(1, count, figsize=(5 * count, 3.5), squeeze=False)
  return fig, axes[0]


def _finish_panel(ax, title, xlabel, legend_size):
  """The styling every mIoU panel shares."""
  ax.set_title(title)
  ax.set_xlabel(xlabel)
  ax.set_ylabel("mIoU")
  ax.set_ylim(0, 1)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=legend_size)


def plot_iou_vs_clicks(path: str, panels: dict) -> None:
  """panels: {title: {label: [mean IoU after click 1..K]}} -> PNG, one panel per title."""
  fig, axes = _panels(len(panels))
  for ax, (title, curves) in zip(axes, panels.items()):
    for label, values in curves.items():
      ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
    _finish_panel(ax, title, "number of clicks", legend_size=8)
  save_figure(fig, path)


def plot_iou_vs_granularity(path: str, panels: dict) -> None:
  """panels: {title: {label: {'granularity': [G], 'miou@k': [G], ...}}} -> PNG (paper Fig. 4),
  the best granularity of each curve marked with a star."""
  fig, axes = _panels(len(panels))
  for ax, (title, curves) in zip(axes, panels.items()):
    for label, curve in curves.items():
      for key, values in curve.items():
        if key == "granularity":
          continue
        line, = ax.plot(curve["granularity"], values, marker="o", markersize=3,
                        label=f"{label} {key}".strip())
        best = max(range(len(values)), key=lambda i: values[i])
        ax.plot(curve["granularity"][best], values[best], "*", color=line.get_color(),
                markersize=12)
    _finish_panel(ax, title, "granularity", legend_size=7)
  save_figure(fig, path)
