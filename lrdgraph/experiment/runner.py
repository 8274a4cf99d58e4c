"""Training the unfinished cells of a grid, one after another or in spawned worker processes,
and writing the report after them."""
from __future__ import annotations

import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import yaml

from ..errors import ConfigError, LrdError, OutputError
from .cells import Cell, cell_states, plan_cells, select_cells
from .progress import EpochWatcher, best_so_far, read_epochs
from .report import write_report
from .results import read_merged_rows
from .spec import ExperimentSpec, load_spec


class ExperimentFailed(LrdError):
    """Some cells failed; the report over the finished ones was still written."""

    exit_code = 1


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _exit_with_parent(parent: int, every: float = 0.5) -> None:
    """In a worker process: exit as soon as the experiment process that started it is gone.

    A killed experiment (SIGKILL, OOM killer) cannot stop its workers; without this they would
    train on, hold their cells' output locks and wait forever for work. Files are written
    atomically, so exiting at any moment leaves each cell finished or resumable.
    """
    import threading

    def watch() -> None:
        while True:
            time.sleep(every)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="lrdgraph-parent-watch", daemon=True).start()


def _init_worker(threads: Optional[int], parent: Optional[int] = None) -> None:
    if parent is not None:
        _exit_with_parent(parent)
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
        from ..train.trainer import configure_cpu

        # before the thread pool starts (workers copy the flush mode); the cell's own
        # train.flush_denormal is applied again when its training starts
        configure_cpu({"flush_denormal": True, "num_threads": threads})


def _run_cell(job: Dict[str, Any]) -> Dict[str, Any]:
    """Train (or resume) one cell; never raises for a failure of the cell itself."""
    from ..train.trainer import resume, train

    run_dir, log_path = Path(job["run_dir"]), Path(job["log"])
    out = {"name": job["name"]}
    if (run_dir / "results.json").exists():
        return {**out, "status": "done", "how": "finished before"}
    t0 = time.perf_counter()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as fh:
        def log(msg: str) -> None:
            fh.write(msg + "\n")
            fh.flush()

        try:
            if (run_dir / "config.yaml").exists():
                log(f"--- resuming {run_dir}")
                res, how = resume(run_dir, progress=False, log=log), "resumed"
            else:
                log(f"--- training {run_dir}")
                res, how = train(job["graph"], job["config"], run_dir, overwrite=True,
                                 progress=False, log=log), "trained"
        except LrdError as exc:
            log(f"failed: {exc}")
            return {**out, "status": "failed", "error": str(exc)}
        except Exception as exc:  # a bug or an environment failure: keep the other cells going
            log(traceback.format_exc())
            return {**out, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    metric = job["config"]["eval"]["metric"]
    score = {p: m.get(metric) for p, m in res.get("protocols", {}).items()}
    return {**out, "status": "done", "how": how, "seconds": round(time.perf_counter() - t0, 1),
            "metric": metric, "score": score}


def run_experiment(spec: str | Path | Mapping[str, Any], out: str | Path, *, jobs: int = 1,
                   threads: Optional[int] = None, extra_set: Sequence[str] = (),
                   overwrite: bool = False, report_only: bool = False,
                   models: Sequence[str] = (), datasets: Sequence[str] = (),
                   seeds: Sequence[int] = (), variants: Sequence[str] = (),
                   merge: Sequence[str | Path] = (), progress_every: float = 5.0,
                   log: Callable[[str], None] = _stderr) -> Dict[str, Any]:
    """Run every unfinished cell of ``spec`` into ``out`` and write the report.

    ``merge``: other experiments' ``results.csv`` files (the same spec run on another machine
    or in an earlier session, or a committed copy); their finished cells fill the report's
    cells that are not finished here (:func:`read_merged_rows`). Merged cells are not trained.

    ``models`` / ``datasets`` / ``seeds`` / ``variants`` (row labels, data set names, seeds,
    variant names) restrict the cells trained now to a slice of the grid
    (:func:`select_cells`); the report always covers every finished cell, and a later run
    without them resumes the rest.

    Finished cells (``results.json``) are not re-run; an interrupted cell (a run directory
    without ``results.json``) is resumed from its last checkpoint. ``jobs > 1`` trains cells in
    that many spawned processes, each with ``threads`` torch threads (default: CPU cores /
    jobs). ``report_only`` trains nothing and rewrites the report from the finished cells.
    While cells train, each finished epoch of each is logged, read from its ``metrics.jsonl``
    every ``progress_every`` seconds (:class:`~.progress.EpochWatcher`; 0: only at the end
    of each cell). The report is rewritten after each finished cell as well as at the end, so
    a grid stopped before its end leaves tables of every cell finished by then. Returns
    ``{"cells", "states", "outcomes", "files"}``; raises
    :class:`ExperimentFailed` after writing the report if a cell failed.
    """
    spec = spec if isinstance(spec, ExperimentSpec) else load_spec(spec, extra_set=extra_set)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError("output path exists and is not a directory", path=out)
    if out.exists() and any(out.iterdir()) and not (out / "spec.yaml").exists():
        if not overwrite:
            raise OutputError("output directory is not empty and holds no experiment "
                              "(spec.yaml); pass --overwrite to replace it", path=out)
    cells = plan_cells(spec)
    merged = read_merged_rows(cells, merge) if merge else {}
    chosen = {c.name for c in select_cells(spec, cells, models=models, datasets=datasets,
                                           seeds=seeds, variants=variants)}
    from ..io import DirLock, atomic_write_text

    outcomes: List[Dict[str, Any]] = []
    with DirLock(out):
        if overwrite and out.exists() and not report_only:
            shutil.rmtree(out)
        states = cell_states(cells, out)
        out.mkdir(parents=True, exist_ok=True)
        # written by --report-only too: the directory is then an experiment that a later
        # command may rewrite or resume
        atomic_write_text(out / "spec.yaml", yaml.safe_dump(spec.to_dict(), sort_keys=False,
                                                            allow_unicode=True))
        if not report_only:
            todo = [c for c in cells if states[c.name] != "done" and c.name in chosen
                    and c.name not in merged]
            missing = sorted({c.dataset for c in todo if not c.graph.is_dir()})
            if missing:
                hints = [f"{d}: {spec.datasets[d].graph}" + (f" (build it with: {spec.datasets[d].build})"
                                                             if spec.datasets[d].build else "")
                         for d in missing]
                raise ConfigError("graph directory not found for " + "; ".join(hints), path=spec.source)
            done = sum(states[c.name] == "done" for c in cells)
            skipped = "" if len(chosen) == len(cells) else \
                f"; {len(cells) - len(chosen)} outside the selection left alone"
            taken = sum(c.name in merged and states[c.name] != "done" for c in cells)
            taken_msg = f", {taken} merged from {len(merge)} file(s)" if merge else ""
            log(f"{spec.name}: {len(cells)} cells, {done} finished{taken_msg}, "
                f"{sum(states[c.name] == 'partial' for c in todo)} to resume, "
                f"{sum(states[c.name] == 'new' for c in todo)} new{skipped}; {jobs} job(s)")

            def interim_report() -> None:
                # after each finished cell, so that a long grid's tables are never older than
                # its last finished cell, even when the grid is stopped before its end
                try:
                    write_report(spec, cells, out, merged)
                except Exception as exc:  # the final report below raises it again
                    log(f"report not updated: {type(exc).__name__}: {exc}")

            outcomes = _run_cells(todo, out, jobs=jobs, threads=threads, log=log,
                                  progress_every=progress_every, after_cell=interim_report)
        files = write_report(spec, cells, out, merged, log=log)
    failed = [o for o in outcomes if o["status"] == "failed"]
    result = {"cells": cells, "states": states, "outcomes": outcomes, "files": files}
    if failed:
        raise ExperimentFailed(f"{len(failed)} of {len(outcomes)} cells failed ("
                               + ", ".join(o["name"] for o in failed[:3])
                               + (", ..." if len(failed) > 3 else "")
                               + f"); see {out / 'logs'}; the report covers the finished cells")
    return result


def grid_status(spec: ExperimentSpec, out: str | Path, *, models: Sequence[str] = (),
                datasets: Sequence[str] = (), seeds: Sequence[int] = (),
                variants: Sequence[str] = (), merge: Sequence[str | Path] = ()
                ) -> List[Dict[str, Any]]:
    """What ``run_experiment`` would do with the selected cells, training nothing (``--dry-run``):
    per cell ``{"cell", "state", "detail"}`` with state ``done``, ``merged`` (taken from a
    ``merge`` file), ``partial`` (to resume) or ``new``. A partial cell's detail says how far it
    got: its finished epochs and best dev score so far, from its ``metrics.jsonl``."""
    out = Path(out)
    cells = select_cells(spec, plan_cells(spec), models=models, datasets=datasets, seeds=seeds,
                         variants=variants)
    states = cell_states(cells, out) if out.is_dir() else {c.name: "new" for c in cells}
    merged = read_merged_rows(cells, merge) if merge else {}
    rows = []
    for c in cells:
        state = "merged" if states[c.name] != "done" and c.name in merged else states[c.name]
        detail = ""
        if state == "partial":
            epochs = read_epochs(out / "runs" / c.name / "metrics.jsonl") or []
            metric, protocol = c.config["eval"]["metric"], c.config["eval"]["dev_protocol"]
            score, epoch = best_so_far(epochs, metric, protocol)
            detail = (f"{len(epochs)} epoch{'s' if len(epochs) != 1 else ''} of at most "
                      f"{c.config['train']['epochs']}"
                      + (f", best dev {metric} {score:.4f} @ {epoch}" if score is not None else ""))
        rows.append({"cell": c, "state": state, "detail": detail})
    return rows


def _run_cells(todo: Sequence[Cell], out: Path, *, jobs: int, threads: Optional[int],
               log: Callable[[str], None], progress_every: float = 5.0,
               after_cell: Callable[[], Any] = lambda: None) -> List[Dict[str, Any]]:
    jobs_ = [{"name": c.name, "run_dir": str(out / "runs" / c.name),
              "log": str(out / "logs" / f"{c.name}.log"), "graph": str(c.graph),
              "config": c.config} for c in todo]
    watch = EpochWatcher([(j["name"], j["run_dir"], j["config"]["eval"]["metric"],
                           j["config"]["eval"]["dev_protocol"]) for j in jobs_],
                         log=log, every=progress_every)
    with watch:
        return _train_jobs(jobs_, jobs=jobs, threads=threads, log=log, before_report=watch.poll,
                           after_report=after_cell)


def _train_jobs(jobs_: Sequence[Dict[str, Any]], *, jobs: int, threads: Optional[int],
                log: Callable[[str], None], before_report: Callable[[], Any],
                after_report: Callable[[], Any] = lambda: None) -> List[Dict[str, Any]]:
    outcomes: List[Dict[str, Any]] = []

    def report(o: Dict[str, Any]) -> None:
        before_report()  # the cell's last epochs first, then its result
        outcomes.append(o)
        k = len(outcomes)
        if o["status"] == "failed":
            log(f"[{k}/{len(jobs_)}] {o['name']}: FAILED: {o['error']}")
        else:
            scores = "  ".join(f"{p} {o['metric']}={v:.4f}" for p, v in o.get("score", {}).items()
                               if v is not None)
            log(f"[{k}/{len(jobs_)}] {o['name']}: {o['how']} in {o.get('seconds', 0)}s  {scores}")
        if k < len(jobs_):  # the last one is followed by the final report
            after_report()

    if jobs <= 1 or len(jobs_) <= 1:
        if threads:
            _init_worker(threads)
        for j in jobs_:
            report(_run_cell(j))
        return outcomes
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // jobs)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(jobs_)), mp_context=ctx,
                             initializer=_init_worker, initargs=(threads, os.getpid())) as pool:
        futures = {pool.submit(_run_cell, j): j for j in jobs_}
        try:
            for f in as_completed(futures):
                try:
                    report(f.result())
                except Exception as exc:  # the worker process died
                    report({"name": futures[f]["name"], "status": "failed",
                            "error": f"{type(exc).__name__}: {exc}"})
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return outcomes
