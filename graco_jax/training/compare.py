"""Do training runs agree? The verdict of launch/local_multiprocess.sh's smoke test.

  python -m graco_jax.training.compare REFERENCE SAME_WITHIN_TOLERANCE [IDENTICAL]

REFERENCE and SAME_WITHIN_TOLERANCE (workdirs of the same config, e.g. 1 process x 8 devices
and 2 processes x 4 devices) must log the same losses and end with the same parameters to the
tolerance of the 8-vs-1-device step test (reductions run in another order); IDENTICAL (a run
preempted and resumed on the second layout) must end bit-identical to SAME_WITHIN_TOLERANCE.
"""

import csv
import sys

import numpy as np

from graco_jax import checkpoints, io
from graco_jax.training import optim

RTOL, ATOL = 1e-5, 2e-4  # tests/training/test_step.py: 8 simulated devices vs 1


def losses(workdir) -> np.ndarray:
  rows = list(csv.DictReader(io.read_text(io.join(workdir, "metrics.csv")).splitlines()))
  return np.asarray([float(r["loss"]) for r in rows])


def params(workdir) -> dict:
  return {k: np.asarray(v) for k, v in optim.flatten(checkpoints.restore_params(workdir)).items()}


def max_diff(a: dict, b: dict) -> float:
  if a.keys() != b.keys():
    raise ValueError(f"parameter trees differ: {sorted(set(a) ^ set(b))[:5]}")
  return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def compare(reference, other, identical=None) -> list:
  """Mismatch messages (empty when the runs agree); prints the numbers it compared."""
  problems = []
  ref_loss, other_loss = losses(reference), losses(other)
  print(f"losses {reference}: {np.array2string(ref_loss, precision=6)}")
  print(f"losses {other}: {np.array2string(other_loss, precision=6)}")
  if ref_loss.shape != other_loss.shape or not np.allclose(other_loss, ref_loss, RTOL, ATOL):
    problems.append("the loss curves differ")
  ref_params, other_params = params(reference), params(other)
  diff = max_diff(ref_params, other_params)
  print(f"parameters: max |difference| {diff:.3g}")
  if not all(np.allclose(other_params[k], ref_params[k], RTOL, ATOL) for k in ref_params):
    problems.append(f"the final parameters differ beyond rtol {RTOL}, atol {ATOL}")
  if identical is not None:
    resumed = params(identical)
    diff = max_diff(other_params, resumed)
    print(f"resumed vs uninterrupted: max |difference| {diff:.3g}")
    if diff != 0.0:
      problems.append("the resumed run is not bit-identical to the uninterrupted one")
  return problems


def main(argv) -> int:
  if len(argv) not in (2, 3):
    print(__doc__)
    return 2
  problems = compare(*argv)
  for p in problems:
    print(f"MISMATCH: {p}")
  print("OK: the runs agree" if not problems else "FAILED")
  return 1 if problems else 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
