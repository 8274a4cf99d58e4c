"""SIGKILL during ``export-edges`` and ``experiment``, and the output lock of every command that
writes: a kill at any moment leaves the previous complete output (or, for a directory being
replaced, nothing) under the final name, never a partial file; an interrupted experiment keeps
its finished cells and a re-run completes it without training them again; a killed
``experiment --jobs 2`` takes its worker processes with it.

The commands run in processes forked from a "zygote" that has already imported torch, pandas
and lrdgraph, so a kill delay measures the command's own work, not interpreter start-up (and
the test stays fast on a busy machine). Each forked command is a real process killed with
SIGKILL; the zygote reaps it before the test looks at the files.
"""
from __future__ import annotations

import csv
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Dict, Optional

import pytest
import yaml
from click.testing import CliRunner

from lrdgraph.io import DirLock
from lrdgraph_cli.main import cli
from test_reliability_interrupt import _check_run_files, _no_temp_under_final_names

TINY = ["model.emb_size=16", "model.num_layers=1", "model.num_heads=2", "train.num_threads=1",
        "train.batch_size=128", "eval.protocols=[sampled]", "eval.batch_size=128",
        "lrd.num_latent=2"]
#: the kill delays are drawn from this seed (printed on failure with the delays themselves)
SEED = int(os.environ.get("LRDGRAPH_KILL_SEED", "20240607"))

ZYGOTE = r"""
import json, os, sys
import torch, pandas, networkx, yaml, matplotlib
torch.set_num_threads(1)
from lrdgraph_cli.main import cli
import lrdgraph.analysis.export, lrdgraph.experiment, lrdgraph.train.trainer, lrdgraph.graph
print("ready", flush=True)
for line in sys.stdin:
    req = json.loads(line)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        log = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0); os.dup2(log, 1); os.dup2(log, 2)
        code = 0
        try:
            cli(req["args"], prog_name="lrdgraph")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            import traceback; traceback.print_exc(); code = 1
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(code)
    print(json.dumps({"pid": pid}), flush=True)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"exit": os.waitstatus_to_exitcode(status)}), flush=True)
"""


def _kill(pid: int) -> None:
    """SIGKILL ``pid``; it may have ended (and been reaped) since the last look."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Zygote:
    """Runs ``lrdgraph`` commands in processes forked from one pre-imported interpreter."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.marker = uuid.uuid4().hex
        env = dict(os.environ, LRDGRAPH_CACHE=str(tmp / "cache"), OMP_NUM_THREADS="1",
                   MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1", LRDGRAPH_TEST_MARKER=self.marker)
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE], env=env, bufsize=0,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(tmp / "zygote.err", "wb"))
        assert self._line() == "ready", (tmp / "zygote.err").read_text()[-3000:]
        self.n = 0

    def _line(self) -> str:
        out = b""
        while not out.endswith(b"\n"):
            ch = self.proc.stdout.read(1)
            if not ch:
                raise RuntimeError("zygote died: " + (self.tmp / "zygote.err").read_text()[-3000:])
            out += ch
        return out.decode().strip()

    def start(self, *args: str) -> int:
        self.n += 1
        self.log = self.tmp / f"cmd{self.n}.log"
        req = {"args": [str(a) for a in args], "log": str(self.log)}
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        self.proc.stdin.flush()
        self.t0 = time.perf_counter()
        return json.loads(self._line())["pid"]

    def finished(self, timeout: float = 0.0) -> bool:
        """Whether the running command has ended (waits up to ``timeout`` seconds)."""
        return bool(select.select([self.proc.stdout], [], [], timeout)[0])

    def wait(self) -> int:
        """The command's exit code (negative: killed by that signal), after it was reaped."""
        return json.loads(self._line())["exit"]

    def run(self, *args: str) -> tuple[int, float]:
        self.start(*args)
        code = self.wait()
        return code, time.perf_counter() - self.t0

    def kill_after(self, delay: float, *args: str) -> int:
        """Start a command, SIGKILL it after ``delay`` seconds unless it ended; its exit code."""
        pid = self.start(*args)
        if not self.finished(delay):
            _kill(pid)
        return self.wait()

    def kill_when(self, ready, *args: str, then: float = 0.0, timeout: float = 120.0) -> int:
        """Start a command, SIGKILL it ``then`` seconds after ``ready()`` turns true (unless it
        ended before); its exit code."""
        pid = self.start(*args)
        deadline = time.perf_counter() + timeout
        while not ready():
            if self.finished(0.02):
                return self.wait()
            assert time.perf_counter() < deadline, f"not reached in {timeout}s: {self.log.read_text()[-2000:]}"
        if not self.finished(then):
            _kill(pid)
        return self.wait()

    def others(self) -> list[int]:
        """Live processes carrying this zygote's marker, other than the zygote itself."""
        found = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit() or int(d.name) == self.proc.pid:
                continue
            try:
                env = (d / "environ").read_bytes()
                state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if f"LRDGRAPH_TEST_MARKER={self.marker}".encode() in env and state != "Z":
                found.append(int(d.name))
        return found

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    z = Zygote(tmp_path_factory.mktemp("zygote"))
    yield z
    z.close()


@pytest.fixture(scope="module")
def trained_run(demo_graph_dir, tmp_path_factory) -> Path:
    """A one-epoch tiny RCF run on the demo graph (read-only for the tests)."""
    from lrdgraph.config import resolve_config
    from lrdgraph.train.trainer import train

    out = tmp_path_factory.mktemp("interrupt-more") / "run"
    cfg = resolve_config(model="rcf", overrides=[*TINY, "train.epochs=1"])
    train(demo_graph_dir, cfg, out, progress=False, log=lambda m: None)
    return out


def _snapshot(out: Path) -> Optional[Dict[str, bytes]]:
    """The bytes of a file output, or of every file of a directory output (None: absent)."""
    if not out.exists():
        return None
    if out.is_file():
        return {"": out.read_bytes()}
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _restore(out: Path, snap: Dict[str, bytes]) -> None:
    if out.is_dir():
        shutil.rmtree(out)
    elif out.exists():
        out.unlink()
    if "" in snap:
        out.write_bytes(snap[""])
        return
    out.mkdir()
    for name, data in snap.items():
        (out / name).write_bytes(data)


def _delays(rng: random.Random, total: float, n: int, tail: int) -> list[float]:
    """Kill moments over a command's run time ``total`` (measured from the test's side, so a
    little longer than the command): one drawn at random in each of ``n`` equal strata, plus
    ``tail`` more in the second half, where the files are written."""
    moments = [rng.uniform(i / n, (i + 1) / n) for i in range(n)]
    moments += [rng.uniform(0.45, 0.9) for _ in range(tail)]
    return [round(m * total, 4) for m in moments]


# ---------------------------------------------------------------------------- export-edges
@pytest.mark.slow
@pytest.mark.parametrize("fmt, name", [("csv", "edges.csv"), ("rechorus", "rechorus")])
def test_kill_export_edges_at_several_moments(zygote, trained_run, tmp_path, fmt, name):
    out = tmp_path / name
    # the previous export: a different selection, so the old and new outputs differ
    res = CliRunner().invoke(cli, ["export-edges", str(trained_run), "--format", fmt, "--out",
                                   str(out), "--top-k", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    old = _snapshot(out)
    # the new one keeps every latent edge (--min-weight 0): more to write
    args = ["export-edges", trained_run, "--format", fmt, "--out", out, "--min-weight", "0",
            "--overwrite", "--quiet"]
    code, total = zygote.run(*args)
    assert code == 0, zygote.log.read_text()[-2000:]
    new = _snapshot(out)
    assert new != old
    rng = random.Random(f"{SEED}-{fmt}")
    outcomes = []
    for delay in _delays(rng, total, 10, 6):
        _restore(out, old)
        code = zygote.kill_after(delay, *args)
        now = _snapshot(out)
        state = "old" if now == old else "new" if now == new else "absent" if now is None else "PARTIAL"
        # a hidden temporary left behind: the kill landed while the output was being written
        temps = [p for p in tmp_path.iterdir() if p.name.startswith(f".{name}.") and
                 p.name.endswith(".tmp")]
        outcomes.append((delay, code, state + ("/mid-write" if temps else "")))
        where = f"seed {SEED}, kill after {delay}s of {total:.2f}s: {outcomes}"
        assert state != "PARTIAL", where
        assert state != "absent" or fmt == "rechorus", where  # a file is replaced by one rename
        _no_temp_under_final_names(tmp_path)
        visible = {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")}
        assert visible <= {name}, where
        for p in temps:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    print(f"\nexport-edges --format {fmt}: {total:.2f}s; (kill delay, exit, output): {outcomes}")
    assert sum(code == -signal.SIGKILL for _, code, _ in outcomes) >= 3, outcomes
    # the stale lock of the last killed export is taken over; a complete export follows
    code, _ = zygote.run(*args)
    assert code == 0, zygote.log.read_text()[-2000:]
    assert _snapshot(out) == new
    assert not (tmp_path / f".{name}.lock").exists()


@pytest.mark.parametrize("command", ["export-edges csv", "export-edges rechorus", "report",
                                     "relations", "evaluate", "experiment", "synth"])
def test_second_writer_refuses(trained_run, demo_graph_dir, tmp_path, command):
    """While another command holds an output's lock, a second writer refuses at once with one
    line naming the output (exit code 2) and leaves it untouched. (build-graph and train:
    tests/reliability/test_reliability_interrupt.py.)"""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    before = _snapshot(run / "results.json")
    words = command.split()
    if words[0] == "export-edges":
        target = tmp_path / ("edges.csv" if words[1] == "csv" else "rechorus")
        args = ["export-edges", run, "--format", words[1], "--out", target, "--quiet"]
    elif command == "report":
        target = tmp_path / "report.html"
        args = ["report", run, "--out", target, "--quiet"]
    elif command == "relations":
        target = tmp_path / "rel"
        args = ["relations", run, "--out", target, "--quiet"]
    elif command == "evaluate":
        target = run
        args = ["evaluate", run, "--protocol", "sampled", "--quiet"]
    elif command == "experiment":
        target = tmp_path / "exp"
        args = ["experiment", _spec(tmp_path, demo_graph_dir), "--out", target]
    else:
        target = tmp_path / "synth"
        args = ["synth", "--out", target, "--users", "5", "--items", "5", "--interactions", "50"]
    with DirLock(target):
        res = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lrdgraph: error: "), res.output
    assert "another lrdgraph command" in lines[0] and str(target) in lines[0]
    if target != run:
        assert not target.exists()
    assert _snapshot(run / "results.json") == before
    assert not (target.parent / f".{target.name}.lock").exists()  # released by its holder


# ---------------------------------------------------------------------------- experiment
def _spec(tmp: Path, graph: Path, epochs: int = 2) -> Path:
    spec = {"name": "kill", "datasets": {"demo": str(graph)}, "models": {"RCF": "rcf"},
            "seeds": [1, 2], "set": [*TINY, f"train.epochs={epochs}", "train.patience=0",
                                     "train.device=cpu"],
            "report": {"protocols": ["sampled"]}}
    path = tmp / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


CELLS = ["demo__RCF__default__seed1", "demo__RCF__default__seed2"]


def _check_experiment(out: Path) -> Dict[str, str]:
    """Every file of the experiment is complete; the state of each cell."""
    _no_temp_under_final_names(out.parent)
    if (out / "spec.yaml").exists():
        yaml.safe_load((out / "spec.yaml").read_text())
    states = {}
    for c in CELLS:
        rd = out / "runs" / c
        _check_run_files(rd)
        for name in ("items.csv", "users.csv"):
            if (rd / name).exists():
                src = Path(yaml.safe_load((rd / "config.yaml").read_text())["data"]["graph"]) / name
                assert (rd / name).read_bytes() == src.read_bytes(), rd / name
        states[c] = ("done" if (rd / "results.json").exists()
                     else "partial" if rd.exists() else "new")
    return states


def _rerun(spec: Path, out: Path, monkeypatch) -> list:
    """Finish the experiment in this process; the cells it trained or resumed."""
    import lrdgraph.train.trainer as trainer
    from lrdgraph.experiment import run_experiment

    touched = []
    for name, run_arg in (("train", 2), ("resume", 0)):  # train(graph, cfg, out), resume(run)
        real = getattr(trainer, name)

        def wrapper(*a, _real=real, _i=run_arg, **k):
            touched.append(Path(a[_i]).name)
            return _real(*a, **k)

        monkeypatch.setattr(trainer, name, wrapper)
    res = run_experiment(spec, out, log=lambda m: None)
    assert [o["status"] for o in res["outcomes"]] == ["done"] * len(res["outcomes"])
    return touched


@pytest.mark.slow
def test_kill_experiment_mid_way_then_rerun(zygote, demo_graph_dir, tmp_path, monkeypatch):
    spec, out = _spec(tmp_path, demo_graph_dir), tmp_path / "exp"
    args = ["experiment", spec, "--out", out]
    first = out / "runs" / CELLS[0]
    # 1. a kill at a random moment of the first cell's training
    rng = random.Random(SEED)
    delay = rng.uniform(0.0, 0.8)
    zygote.kill_when(lambda: (first / "config.yaml").exists(), *args, then=delay)
    _check_experiment(out)
    # 2. resume, killed as soon as the first cell has finished: mid-way through the grid
    code = zygote.kill_when(lambda: (first / "results.json").exists(), *args)
    assert code == -signal.SIGKILL, zygote.log.read_text()[-2000:]
    states = _check_experiment(out)
    assert states[CELLS[0]] == "done", states
    done_bytes = (first / "results.json").read_bytes()
    done_ckpt = (first / "checkpoints" / "best.pt").read_bytes()
    # 3. the re-run trains only the unfinished cell (the second, unless a very fast machine
    # finished it before a kill) and writes the report over both
    touched = _rerun(spec, out, monkeypatch)
    assert touched == [c for c in CELLS if states[c] != "done"], (states, touched)
    assert _check_experiment(out) == {c: "done" for c in CELLS}
    assert (first / "results.json").read_bytes() == done_bytes
    assert (first / "checkpoints" / "best.pt").read_bytes() == done_ckpt
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    done = [r for r in rows if r["status"] == "done"]  # each cell: its test rows and its dev row
    assert sorted(r["cell"] for r in done if r["protocol"] != "dev") == CELLS
    assert sorted(r["cell"] for r in done if r["protocol"] == "dev") == CELLS
    assert not list(tmp_path.glob(".*.lock")) and not list((out / "runs").glob(".*.lock"))


@pytest.mark.slow
def test_kill_parallel_experiment_takes_its_workers_along(zygote, demo_graph_dir, tmp_path,
                                                          monkeypatch):
    spec, out = _spec(tmp_path, demo_graph_dir, epochs=3), tmp_path / "exp"
    runs = out / "runs"
    code = zygote.kill_when(lambda: all((runs / c / "config.yaml").exists() for c in CELLS),
                            "experiment", spec, "--out", out, "--jobs", "2", "--threads", "1")
    assert code == -signal.SIGKILL, zygote.log.read_text()[-2000:]
    deadline = time.perf_counter() + 20
    while zygote.others() and time.perf_counter() < deadline:
        time.sleep(0.2)
    assert zygote.others() == [], "worker processes outlived the killed experiment"
    states = _check_experiment(out)
    finished = {c: (runs / c / "results.json").read_bytes() for c, s in states.items() if s == "done"}
    # the workers' cell locks are stale now: the re-run takes them over and finishes the grid
    touched = _rerun(spec, out, monkeypatch)
    assert sorted(touched) == sorted(c for c in CELLS if c not in finished)
    assert _check_experiment(out) == {c: "done" for c in CELLS}
    assert all((runs / c / "results.json").read_bytes() == b for c, b in finished.items())
