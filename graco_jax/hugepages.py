"""Transparent huge pages for the buffers XLA's CPU backend allocates.

A GCL train step at 448 streams about a gigabyte of activations, attention weights and their
gradients through memory. With 4 KiB pages a third of its time went to TLB misses and page
faults: on a 2-core AMD EPYC the batch-8 step (no extra click) ran in 650 ms with huge pages
against 910 ms without. XLA allocates through glibc's malloc, which asks the kernel for huge
pages only when the process starts with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (glibc >= 2.35)
and the kernel's THP mode is 'madvise'. So a command started without it executes itself once
more, the same process id and arguments, with the tunable added to its environment.
GRACO_JAX_HUGE_PAGES=off turns this off.
"""

import os
import platform
import sys

TUNABLE = "glibc.malloc.hugetlb"
THP_MODE_FILE = "/sys/kernel/mm/transparent_hugepage/enabled"


def thp_mode(path: str = THP_MODE_FILE) -> str | None:
  """The kernel's selected THP mode ('always', 'madvise' or 'never'), None where unknown."""
  try:
    with open(path) as f:
      text = f.read()
  except OSError:
    return None
  start, end = text.find("["), text.find("]")
  return text[start + 1:end] if 0 <= start < end else None


def huge_page_environment(environ, mode: str | None, libc: str) -> dict | None:
  """The environment to execute again with, or None where it would change nothing: glibc
  only reads the tunable, the kernel only honours it in 'madvise' mode ('always' gives huge
  pages anyway, 'never' none), and a GLIBC_TUNABLES that already names it is the user's
  choice."""
  if libc != "glibc" or mode != "madvise":
    return None
  if environ.get("GRACO_JAX_HUGE_PAGES", "").lower() in ("off", "0", "no"):
    return None
  tunables = environ.get("GLIBC_TUNABLES", "")
  if TUNABLE + "=" in tunables:
    return None
  return {**environ, "GLIBC_TUNABLES": ":".join(filter(None, (tunables, TUNABLE + "=1")))}


def reexec_with_huge_pages():
  """Replace this process by itself with huge pages on, where `huge_page_environment` says
  so; call first thing, before any output or threads."""
  if sys.platform != "linux":
    return
  env = huge_page_environment(os.environ, thp_mode(), platform.libc_ver()[0])
  if env is None:
    return
  argv = list(sys.orig_argv)
  argv[0] = sys.executable
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, argv, env)
