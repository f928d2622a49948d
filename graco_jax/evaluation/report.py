"""Evaluation reports: the paper's Table 1 as markdown, results JSON, IoU curves as PNG."""

import json
import math

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


def write_json(path: str, data) -> None:
  io.atomic_write_bytes(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8"))


def plot_iou_vs_clicks(path: str, curves: dict) -> None:
  """curves: {label: [mean IoU after click 1..K]} -> PNG."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for label, values in curves.items():
    ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
  ax.set_xlabel("number of clicks")
  ax.set_ylabel("mIoU")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  io.write_figure(path, fig, dpi=120)


def plot_iou_vs_granularity(path: str, curves: dict) -> None:
  """curves: {label: {'granularity': [G], 'miou@k': [G], ...}} -> PNG (paper Fig. 4), the best
  granularity of each curve marked with a star."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for label, curve in curves.items():
    for key, values in curve.items():
      if key == "granularity":
        continue
      line, = ax.plot(curve["granularity"], values, marker="o", markersize=3, label=f"{label} {key}")
      best = max(range(len(values)), key=lambda i: values[i])
      ax.plot(curve["granularity"][best], values[best], "*", color=line.get_color(), markersize=12)
  ax.set_xlabel("granularity")
  ax.set_ylabel("mIoU")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
  io.write_figure(path, fig, dpi=120)
