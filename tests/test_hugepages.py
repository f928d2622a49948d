"""The re-execution with glibc's huge-page tunable (graco_jax/hugepages.py)."""

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from graco_jax import hugepages

ON = "glibc.malloc.hugetlb=1"


def test_environment_adds_the_tunable_only_where_it_changes_something():
  env = {"PATH": "/bin", "HOME": "/root"}
  assert hugepages.huge_page_environment(env, "madvise", "glibc") == {**env, "GLIBC_TUNABLES": ON}
  kept = hugepages.huge_page_environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"},
                                         "madvise", "glibc")
  assert kept == {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:" + ON}
  assert hugepages.huge_page_environment(env, "always", "glibc") is None
  assert hugepages.huge_page_environment(env, "never", "glibc") is None
  assert hugepages.huge_page_environment(env, None, "glibc") is None
  assert hugepages.huge_page_environment(env, "madvise", "") is None  # musl, macOS
  # The user's own setting, even 0, and the opt-out win.
  assert hugepages.huge_page_environment({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"},
                                         "madvise", "glibc") is None
  assert hugepages.huge_page_environment({"GRACO_JAX_HUGE_PAGES": "off"}, "madvise",
                                         "glibc") is None


def test_thp_mode_reads_the_bracketed_choice(tmp_path):
  path = tmp_path / "enabled"
  path.write_text("always [madvise] never\n")
  assert hugepages.thp_mode(str(path)) == "madvise"
  path.write_text("[always] madvise never\n")
  assert hugepages.thp_mode(str(path)) == "always"
  assert hugepages.thp_mode(str(tmp_path / "missing")) is None


CHILD = textwrap.dedent("""
    import os, sys
    from graco_jax import hugepages
    print("pid", os.getpid(), flush=True)
    hugepages.reexec_with_huge_pages()
    import jax.numpy as jnp
    x = (jnp.ones((4096, 4096), jnp.float32) * 2).block_until_ready()  # 64 MiB from XLA
    with open("/proc/self/smaps_rollup") as f:
      huge = [int(l.split()[1]) for l in f if l.startswith("AnonHugePages:")][0]
    print("after", os.getpid(), os.environ.get("GLIBC_TUNABLES", "-"), huge, float(x[0, 0]),
          sys.argv[1:])
""")


def _run_child(env):
  result = subprocess.run([sys.executable, "-c", CHILD, "--arg", "kept"], env=env,
                          capture_output=True, text=True, timeout=120, check=True)
  lines = result.stdout.split("\n")
  pids = [line.split()[1] for line in lines if line.startswith("pid")]
  (after,) = [line.split(maxsplit=5)[1:] for line in lines if line.startswith("after")]
  return pids, after


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc"
                    or hugepages.thp_mode() != "madvise",
                    reason="needs Linux, glibc and the kernel's THP mode 'madvise'")
def test_reexec_gives_xla_buffers_huge_pages():
  env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES",
                                                          "GRACO_JAX_HUGE_PAGES")}
  pids, (pid, tunables, huge, value, argv) = _run_child(env)
  # The same process (execve keeps the pid) ran the script twice, the second time with the
  # tunable, its arguments intact, and XLA's output buffer on huge pages.
  assert pids == [pid, pid]
  assert tunables == ON and value == "2.0" and argv == "['--arg', 'kept']"
  assert int(huge) >= 2048

  pids, (pid, tunables, _, value, _) = _run_child({**env, "GRACO_JAX_HUGE_PAGES": "off"})
  assert pids == [pid] and tunables == "-" and value == "2.0"


def test_only_the_console_entry_reexecutes(monkeypatch, capsys):
  from graco_jax import cli
  calls = []
  monkeypatch.setattr(hugepages, "reexec_with_huge_pages", lambda: calls.append(1))
  with pytest.raises(SystemExit):  # argparse's --version exits
    cli.main(["--version"])
  assert calls == []  # a call from Python keeps its process
  monkeypatch.setattr(sys, "argv", ["graco-jax", "--version"])
  with pytest.raises(SystemExit) as exit_info:
    cli.console_main()
  assert calls == [1] and exit_info.value.code == 0
  assert "graco-jax" in capsys.readouterr().out
