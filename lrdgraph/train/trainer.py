"""The one trainer: joint loss L = L_rec + γ·L_kge + λ·L_lrd (paper Eq. 16), early stopping on
dev, best checkpoint reloaded for the test pass, resumable run directories."""
from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

from .. import __version__
from ..errors import ConfigError, InputError, LrdError, OutputError
from ..io import (DirLock, atomic_torch_save, atomic_write_json, atomic_write_text, output_dir,
                  read_json, unpickling_refusal, unreadable_reason)
from ..progress import progress_bar
from . import distributed as ddp
from .data import KGSampler, NegativeSampler, SequenceData
from .evaluate import evaluate

__all__ = ["TrainingDiverged", "Trainer", "train", "resolve_device", "load_run", "evaluate_run",
           "read_results"]

CHECKPOINT_FORMAT = 1


class TrainingDiverged(LrdError):
    """A loss became NaN or infinite."""

    exit_code = 1


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device is 'cuda' but no CUDA device is available")
    return torch.device(name)


def configure_cpu(train_cfg: Dict[str, Any]) -> None:
    """``train.flush_denormal``, then ``train.num_threads``, in that order.

    Trained weights (dead ReLU units decayed by L2) and intermediate results computed from them
    (products, softmax tails) fall into subnormal floats, and every CPU multiply that touches one
    takes a slow microcode path (``benchmarks/denormal.py``). Flushing turns values below
    1.2e-38 into 0. The mode is per thread and torch's intra-op worker threads copy it when they
    start, so it must be set before the thread pool exists: call this before any parallel work
    (:func:`train` and :func:`load_run`, hence ``resume`` and ``evaluate_run``, do, before they
    load the graph). Set later, it reaches the calling thread only.
    """
    torch.set_flush_denormal(bool(train_cfg.get("flush_denormal", True)))
    if train_cfg.get("num_threads"):
        torch.set_num_threads(int(train_cfg["num_threads"]))


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def make_optimizer(model: torch.nn.Module, lr: float, l2: float) -> torch.optim.Optimizer:
    """Adam with L2 (weight decay) on every parameter except biases (as the reference)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if "bias" in name else decay).append(p)
    return torch.optim.Adam([{"params": decay, "weight_decay": l2},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Trainer:
    """Owns the model, samplers and optimiser of one run directory."""

    def __init__(self, graph, cfg: Dict[str, Any], run_dir: Path, *, progress: bool = True,
                 log: Callable[[str], None] = _stderr) -> None:
        from ..models import build_model

        self.graph = graph
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.log = log
        t = cfg["train"]
        configure_cpu(t)
        seed_everything(int(t["seed"]), bool(t["deterministic"]))
        ddp.init_from_env(t["device"])
        self.device = resolve_device(t["device"])
        if self.device.type == "cuda" and ddp.world() > 1:
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if not ddp.is_main():
            self.log = log = lambda msg: None
            self.progress = progress = False
        self.data = SequenceData(graph.dataset, history=t["history"])
        if len(self.data.train) == 0:
            raise InputError("no training instances: every user has a single train interaction")
        self.model = build_model(cfg, graph).to(self.device)
        if t.get("compile"):
            self._compile_hot_path()
        # eval.dev_max_users: model selection on a fixed, seeded subset of the dev rows (for
        # catalogues where ranking every dev user each epoch costs more than the epoch)
        self.dev_rows: Optional[torch.Tensor] = None
        n_dev, cap = len(self.data.dev), int(cfg["eval"].get("dev_max_users", 0) or 0)
        if 0 < cap < n_dev:
            pick = torch.randperm(n_dev, generator=torch.Generator().manual_seed(int(t["seed"])))
            self.dev_rows = pick[:cap].sort().values
            log(f"model selection on {cap:,} of {n_dev:,} dev users (eval.dev_max_users)")
        self.opt = make_optimizer(self.model, float(t["lr"]), float(t["l2"]))
        self.loss_module: torch.nn.Module = ddp.LossModule(self.model)
        if ddp.world() > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.loss_module = DistributedDataParallel(
                self.loss_module, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True)
        self.gen = torch.Generator().manual_seed(int(t["seed"]))
        self.neg = NegativeSampler(self.data, self.gen)
        # models without a KGE or LRD task (the sequence baselines) skip them whatever the config
        supports_kge = getattr(self.model, "supports_kge", True)
        skipped = [task for task, asked, has in (("kge", cfg["kge"]["enabled"], supports_kge),
                                                 ("lrd", cfg["lrd"]["enabled"], self.model.use_lrd))
                   if asked and not has]
        if skipped:
            log(f"{cfg['model']['name']} has no {' or '.join(skipped)} task: "
                f"{', '.join(s + '.enabled' for s in skipped)} ignored")
        self.kge_on = bool(cfg["kge"]["enabled"]) and supports_kge and bool(
            graph.dataset.relations or graph.dataset.attributes)
        self.kg = KGSampler(graph.dataset, self.model.layout, self.gen, cfg["kge"]["head_prob"]) if self.kge_on else None
        if self.kg is not None and len(self.kg) == 0:
            self.kg, self.kge_on = None, False
        g = cfg["kge"]["gamma"]
        # γ auto (reference §2.5): explicit triplets / all interactions
        self.gamma = (len(self.kg) / graph.dataset.num_interactions if self.kg is not None else 0.0) \
            if g == "auto" else float(g)
        self.lam = float(cfg["lrd"]["lambda"]) if cfg["lrd"]["enabled"] and self.model.use_lrd else 0.0
        self.epoch = 0
        self.best_score = -float("inf")
        self.best_epoch = 0
        self.bad_epochs = 0
        self.history: List[Dict[str, Any]] = []

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> Dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "lrdgraph_version": __version__,
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "epoch": self.epoch,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "history": json.dumps(self.history),
            "rng": {"sampler": self.gen.get_state(), "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        }

    def load_state(self, path: Path, *, full: bool = True) -> None:
        ck = load_checkpoint(path)
        self.model.load_state_dict(ck["model"])
        if not full:
            return
        self.opt.load_state_dict(ck["optimizer"])
        self.epoch = int(ck["epoch"])
        self.best_score = float(ck["best_score"])
        self.best_epoch = int(ck["best_epoch"])
        self.bad_epochs = int(ck["bad_epochs"])
        self.history = json.loads(ck["history"])
        self.gen.set_state(ck["rng"]["sampler"])
        torch.set_rng_state(ck["rng"]["torch"])
        if torch.cuda.is_available() and ck["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(ck["rng"]["cuda"])

    # ------------------------------------------------------------------ one epoch
    def _compile_hot_path(self) -> None:
        """``train.compile``: compile the slot self-attention in place (state-dict keys and
        checkpoints are unchanged). Models without one are left as they are."""
        slots = getattr(self.model, "slots", None)
        if slots is None:
            self.log(f"train.compile: {self.cfg['model']['name']} has no slot self-attention; "
                     "nothing compiled")
            return
        slots.compile()

    def train_epoch(self) -> Dict[str, float]:
        t = self.cfg["train"]
        model, data, dev = self.model, self.data, self.device
        model.train()
        n = len(data.train)
        perm = torch.randperm(n, generator=self.gen)
        kg = self.kg.sample(n) if self.kg is not None else None
        bs = int(t["batch_size"])
        sums: Dict[str, float] = {}
        steps = 0
        aux = self.aux_scale()
        batches = range(0, n, bs)
        it = progress_bar(batches, desc=f"epoch {self.epoch + 1}", enabled=self.progress,
                          leave=False)
        for s in it:
            # the global batch and its random draws are the same in every process (same seed);
            # each process then keeps its share of the rows (all of them in a single process)
            idx = perm[s:s + bs]
            users = data.train.user[idx]
            negs = self.neg.sample(users, (int(t["num_neg"]),))
            width = max(int((data.train.history[idx] < data.train.pad).sum(1).max()), 1)
            lrd_neg = self.neg.sample(users, (width,)) if model.use_lrd else None
            mine = ddp.shard(torch.arange(idx.numel()))
            b = data.train.batch(idx[mine], dev)
            b["candidates"] = torch.cat([b["item"].unsqueeze(1), negs[mine].to(dev)], dim=1)
            if lrd_neg is not None:
                b["lrd_neg"] = lrd_neg[mine][:, :b["history"].shape[1]].to(dev)
            if kg is not None:
                b.update({k: v[s:s + bs][mine].to(dev) for k, v in kg.items()})
            losses = self.loss_module(b, kg is not None)
            total = losses["rec"]
            if "kge" in losses:
                total = total + aux * self.gamma * losses["kge"]
            if "lrd" in losses:
                total = total + aux * self.lam * losses["lrd"]
            bad = next((f"the {k} loss became {v.item()}" for k, v in losses.items()
                        if not torch.isfinite(v)), None)
            # every process agrees before any of them stops, or the others would wait forever
            # in the gradient all-reduce
            failing = ddp.first_failing_rank(bad is not None, total.device)
            if failing is not None:
                bad = ddp.broadcast_text(bad, failing)
                where = f" in process {failing} of {ddp.world()}" if ddp.world() > 1 else ""
                last = self.run_dir / "checkpoints" / "last.pt"
                raise TrainingDiverged(
                    f"{bad}{where} in epoch {self.epoch + 1} (step {steps + 1}); "
                    f"the last good checkpoint is {last}"
                    + ("" if last.exists() else " (none written yet)")
                    + "; try a lower train.lr")
            self.opt.zero_grad(set_to_none=True)
            total.backward()
            if t["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(model.parameters(), float(t["grad_clip"]))
            self.opt.step()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            sums["total"] = sums.get("total", 0.0) + float(total.detach())
            steps += 1
        return {k: v / max(steps, 1) for k, v in sums.items()}

    def aux_scale(self) -> float:
        """Factor on γ and λ (Eq. 16) in the coming epoch: ``train.aux_warmup = N`` ramps it
        linearly, ``e / N`` in epoch ``e + 1`` (0 in the first epoch, 1 from epoch ``N + 1`` on).
        Ours: the paper and the reference keep both weights constant (``N = 0``, always 1)."""
        n = int(self.cfg["train"].get("aux_warmup", 0) or 0)
        return min(1.0, self.epoch / n) if n > 0 else 1.0

    # ------------------------------------------------------------------ loop
    def fit(self) -> Dict[str, Any]:
        t, ev = self.cfg["train"], self.cfg["eval"]
        metric = ev["metric"]
        ckdir = self.run_dir / "checkpoints"
        ckdir.mkdir(parents=True, exist_ok=True)
        while self.epoch < int(t["epochs"]):
            t0 = time.perf_counter()
            scale = self.aux_scale()
            losses = self.train_epoch()
            t1 = time.perf_counter()
            dev = evaluate(self.model, self.data, "dev", [ev["dev_protocol"]], ev["ks"],
                           batch_size=ev["batch_size"], max_pairs=ev["full_pairs"],
                           device=self.device, progress=self.progress,
                           distributed=True, row_subset=self.dev_rows)[ev["dev_protocol"]]
            t2 = time.perf_counter()
            self.epoch += 1
            score = dev[metric]
            improved = score > self.best_score
            if improved:
                self.best_score, self.best_epoch, self.bad_epochs = score, self.epoch, 0
            else:
                self.bad_epochs += 1
            rec = {"epoch": self.epoch, "loss": losses, "dev": {ev["dev_protocol"]: dev},
                   "seconds": {"train": round(t1 - t0, 3), "dev_eval": round(t2 - t1, 3)},
                   "device": str(self.device), "best": improved}
            if self.cfg["train"].get("aux_warmup"):
                rec["aux_scale"] = scale
            self.history.append(rec)
            if ddp.is_main():
                state = self.state()
                if improved:
                    atomic_torch_save(state, ckdir / "best.pt")
                atomic_torch_save(state, ckdir / "last.pt")
                atomic_write_text(self.run_dir / "metrics.jsonl",
                                  "".join(json.dumps(r) + "\n" for r in self.history))
            loss_txt = " ".join(f"{k}={v:.4f}" for k, v in losses.items())
            self.log(f"epoch {self.epoch:3d}  {loss_txt}  dev {metric}={score:.4f} "
                     f"HR@{metric.split('@')[1]}={dev.get('HR@' + metric.split('@')[1], float('nan')):.4f}"
                     f"{'  *' if improved else ''}  ({t1 - t0:.1f}s + {t2 - t1:.1f}s eval)")
            if self.epoch >= int(t["min_epochs"]) and self.bad_epochs >= int(t["patience"]) > 0:
                self.log(f"early stop: no dev {metric} improvement for {self.bad_epochs} epochs")
                break
        return self.finish()

    def finish(self) -> Dict[str, Any]:
        ev = self.cfg["eval"]
        ddp.barrier()  # rank 0 has written best.pt
        best = self.run_dir / "checkpoints" / "best.pt"
        if best.exists():
            self.load_state(best, full=False)
        t0 = time.perf_counter()
        test = evaluate(self.model, self.data, "test", ev["protocols"], ev["ks"],
                        batch_size=ev["batch_size"], max_pairs=ev["full_pairs"],
                        device=self.device, progress=self.progress, distributed=True)
        best_dev = next((r["dev"] for r in self.history if r["epoch"] == self.best_epoch), {})
        results = {
            "protocols": test,
            "best_epoch": self.best_epoch,
            "epochs_run": self.epoch,
            "dev": best_dev,
            "selection": {"metric": ev["metric"], "split": "dev", "protocol": ev["dev_protocol"]},
            "gamma": self.gamma,
            "lambda": self.lam,
            "seconds": {"train_total": round(sum(r["seconds"]["train"] for r in self.history), 2),
                        "dev_eval_total": round(sum(r["seconds"]["dev_eval"] for r in self.history), 2),
                        "test_eval": round(time.perf_counter() - t0, 2)},
            "device": str(self.device),
            # every device the epochs ran on, in order (a run resumed elsewhere has several;
            # "unknown" for epochs of runs written before epochs recorded their device)
            "devices": list(dict.fromkeys(r.get("device", "unknown") for r in self.history)),
            "processes": ddp.world(),
            "config": self.cfg,
        }
        if ddp.is_main():
            atomic_write_json(self.run_dir / "results.json", results)
        for p, m in test.items():
            self.log(f"test ({p}): " + "  ".join(f"{k}={v:.4f}" for k, v in m.items() if k != "rows"))
        return results


def load_checkpoint(path: Path) -> Dict[str, Any]:
    """Load a checkpoint without executing code from it (``weights_only=True``)."""
    import pickle

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError("checkpoint not found", path=path)
    except pickle.UnpicklingError as exc:
        raise InputError(unpickling_refusal(exc), path=path)
    except Exception as exc:
        raise InputError(f"cannot read checkpoint: {unreadable_reason(exc)}", path=path)


def _prepare_run_dir(out: Path, cfg: Dict[str, Any], graph_dir: Path, overwrite: bool) -> None:
    """Create the run directory with its ``config.yaml`` and id maps in one rename, so that a
    kill at any moment leaves either no run directory (or the previous one, with
    ``overwrite``) or one that ``--resume`` can continue. The caller holds its DirLock."""
    import yaml

    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputError("run directory is not empty; pass --overwrite to replace it or "
                          "--resume to continue it", path=out)
    with output_dir(out, overwrite=True, lock=False) as tmp:
        (tmp / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
        for name in ("items.csv", "users.csv"):
            src = graph_dir / name
            if src.exists():
                shutil.copyfile(src, tmp / name)


def train(graph_dir: str | Path, cfg: Dict[str, Any], out: str | Path, *, overwrite: bool = False,
          progress: bool = True, log: Callable[[str], None] = _stderr) -> Dict[str, Any]:
    """Train a model on a graph directory into run directory ``out`` (see ``lrdgraph train``)."""
    from ..graph import load_graph

    graph_dir = Path(graph_dir).resolve()
    out = Path(out)
    cfg = dict(cfg)
    cfg["data"] = {"graph": str(graph_dir)}
    configure_cpu(cfg["train"])  # before any parallel work (see its docstring)
    graph = load_graph(graph_dir)
    ddp.init_from_env(cfg["train"]["device"])
    with DirLock(out) if ddp.is_main() else contextlib.nullcontext():
        if ddp.is_main():
            _prepare_run_dir(out, cfg, graph_dir, overwrite)
        ddp.barrier()
        trainer = Trainer(graph, cfg, out, progress=progress, log=log)
        log = trainer.log
        log(f"{trainer.model!r} on {trainer.device}; {len(trainer.data.train)} training instances; "
            f"γ={trainer.gamma:.3f} λ={trainer.lam}")
        return trainer.fit()


def same_graph_ids(run_dir: Path, graph_dir: Path) -> Optional[str]:
    """None when ``graph_dir`` has the run's item and user id maps (``items.csv``,
    ``users.csv``, copied into the run when it was made), else the name of the first that
    differs or is missing."""
    for name in ("items.csv", "users.csv"):
        a, b = run_dir / name, graph_dir / name
        if not a.is_file() or not b.is_file() or a.read_bytes() != b.read_bytes():
            return name
    return None


def load_run(run_dir: str | Path, graph_dir: str | Path | None = None) -> tuple[Dict[str, Any], Any]:
    """A run's configuration and graph. ``graph_dir`` replaces the recorded graph path (a run
    moved to another machine); it must have the run's id maps (:func:`same_graph_ids`)."""
    import yaml
    from ..graph import load_graph

    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.exists():
        raise InputError("not a run directory (config.yaml is missing; `lrdgraph train "
                         "GRAPH_DIR --out RUN` makes one)", path=run_dir)
    try:
        cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"damaged run configuration ({getattr(exc, 'problem', None) or exc})",
                         path=cfg_path, line=None if mark is None else mark.line + 1) from None
    sections = ("data", "model", "train", "eval")
    if not isinstance(cfg, dict) or not all(isinstance(cfg.get(k), dict) for k in sections) \
            or not isinstance(cfg["data"].get("graph"), str):
        raise InputError("damaged run configuration (expected the sections "
                         + ", ".join(sections) + " and data.graph)", path=cfg_path)
    # settings added to lrdgraph after this run was made take their defaults
    from ..config import with_current_defaults

    cfg = with_current_defaults(cfg)
    configure_cpu(cfg["train"])  # before any parallel work (see its docstring)
    if graph_dir is not None:
        graph_dir = Path(graph_dir)
        differs = same_graph_ids(run_dir, graph_dir)
        if differs is not None:
            raise InputError(f"not the graph this run was trained on: its {differs} differs from "
                             f"the run's (or is missing)", path=graph_dir)
        cfg["data"]["graph"] = str(graph_dir.resolve())
    elif not Path(cfg["data"]["graph"]).is_dir():
        raise InputError(f"the run's graph directory {cfg['data']['graph']} is not there (a run "
                         "moved from another machine?); to record where the graph is now, pass "
                         f"the graph directory to resume: lrdgraph train GRAPH_DIR --resume {run_dir}",
                         path=cfg_path)
    graph = load_graph(cfg["data"]["graph"])
    return cfg, graph


RUNTIME_KEYS = ("train.num_threads", "train.compile", "train.device", "train.flush_denormal",
                "eval.batch_size", "eval.full_pairs")


def non_runtime_keys(overrides: List[str]) -> List[str]:
    """The keys of ``KEY=VALUE`` overrides that are not :data:`RUNTIME_KEYS` (so cannot change
    on resume)."""
    keys = (o.split("=", 1)[0].strip() for o in overrides)
    return [k for k in keys if k not in RUNTIME_KEYS]


def resume(run_dir: str | Path, *, progress: bool = True, log: Callable[[str], None] = _stderr,
           epochs: Optional[int] = None, runtime: Optional[List[str]] = None,
           graph_dir: str | Path | None = None) -> Dict[str, Any]:
    """Continue a run from its ``checkpoints/last.pt`` (model, optimiser, RNG, early stopping).

    ``runtime`` (``KEY=VALUE`` strings) may change only :data:`RUNTIME_KEYS`, the settings that
    leave the model and its training unchanged (up to floating-point rounding); they apply to
    this session and are recorded in ``results.json``, not in ``config.yaml``. ``graph_dir``
    is where the run's graph is now, for a run moved from another machine: it must have the
    run's id maps, and ``config.yaml`` then records the new path."""
    from ..config import apply_override, validate_config

    run_dir = Path(run_dir)
    cfg, graph = load_run(run_dir, graph_dir)
    if graph_dir is not None and ddp.is_main():
        import yaml

        stored = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
        if stored["data"]["graph"] != cfg["data"]["graph"]:
            log(f"graph moved: {stored['data']['graph']} -> {cfg['data']['graph']}")
            stored["data"]["graph"] = cfg["data"]["graph"]
            atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(stored, sort_keys=False))
    fixed = non_runtime_keys(runtime or [])
    if fixed:
        raise ConfigError(f"'{fixed[0]}' cannot change on resume (it would change the run); "
                          f"only {', '.join(RUNTIME_KEYS)} can")
    for o in runtime or []:
        cfg = apply_override(cfg, o)
    validate_config(cfg)
    if epochs is not None:
        cfg["train"]["epochs"] = epochs
    ddp.init_from_env(cfg["train"]["device"])
    with DirLock(run_dir) if ddp.is_main() else contextlib.nullcontext():
        trainer = Trainer(graph, cfg, run_dir, progress=progress, log=log)
        log = trainer.log
        last = run_dir / "checkpoints" / "last.pt"
        if last.exists():
            trainer.load_state(last)
            log(f"resuming after epoch {trainer.epoch} (best dev {cfg['eval']['metric']}="
                f"{trainer.best_score:.4f} at epoch {trainer.best_epoch})")
        else:
            log("no checkpoint yet: starting from the beginning")
        done = trainer.bad_epochs >= int(cfg["train"]["patience"]) > 0 and trainer.epoch >= int(cfg["train"]["min_epochs"])
        return trainer.finish() if done else trainer.fit()


def evaluate_run(run_dir: str | Path, protocols: List[str], *, progress: bool = True,
                 log: Callable[[str], None] = _stderr) -> Dict[str, Any]:
    """Evaluate a run's best checkpoint on the test split; merge into ``results.json``."""
    run_dir = Path(run_dir)
    cfg, graph = load_run(run_dir)
    with DirLock(run_dir):  # results.json is rewritten: not while a train/resume writes the run
        trainer = Trainer(graph, cfg, run_dir, progress=progress, log=log)
        ck = run_dir / "checkpoints" / "best.pt"
        trainer.load_state(ck, full=False)
        ev = cfg["eval"]
        res = evaluate(trainer.model, trainer.data, "test", protocols, ev["ks"],
                       batch_size=ev["batch_size"], max_pairs=ev["full_pairs"],
                       device=trainer.device, progress=progress)
        path = run_dir / "results.json"
        results = read_results(path) if path.exists() else {"config": cfg}
        results.setdefault("protocols", {}).update(res)
        atomic_write_json(path, results)
    return res


def read_results(path: str | Path, hint: str = "delete it and run 'lrdgraph evaluate' again"
                 ) -> Dict[str, Any]:
    """A run's ``results.json``; a damaged one is an InputError naming it."""
    results = read_json(path, "results file", hint)
    if not isinstance(results, dict) or not isinstance(results.get("protocols", {}), dict):
        raise InputError(f"damaged results file (not an object with 'protocols'); {hint}",
                         path=path)
    return results
