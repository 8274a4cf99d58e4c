"""The ``lrdgraph`` command line. It only parses options, calls the library and prints.

Heavy imports (torch, torch_geometric, sentence_transformers) happen inside the commands, so
``lrdgraph --help`` answers at once.
"""
from __future__ import annotations

import functools
import json
import math
import sys
from pathlib import Path
from typing import Any, Callable, Optional, Tuple

import click

from lrdgraph import __version__
from lrdgraph.analysis.defaults import (DEFAULT_CHUNK, DEFAULT_KNN, DEFAULT_MAX_PAIRS,
                                        DEFAULT_MIN_WEIGHT, DEFAULT_WINDOW)
from lrdgraph.config import MODEL_NAMES
from lrdgraph.errors import LrdError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _fail(msg: str, code: int) -> None:
    click.echo(f"lrdgraph: error: {msg}", err=True)
    sys.exit(code)


class FiniteFloatRange(click.FloatRange):
    """A :class:`click.FloatRange` that also refuses ``nan`` and ``inf`` (click's own range
    check lets ``nan`` through: every comparison with it is false)."""

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


#: seeds: numpy's generators refuse negative ones
SEED = click.IntRange(0, 2**63 - 1)


def _key_values(ctx: click.Context, param: click.Parameter, values: tuple) -> tuple:
    """``--set KEY=VALUE``: the syntax is checked here, the key and value by the config."""
    for v in values:
        key, eq, _ = v.partition("=")
        if not eq or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {v!r}", ctx=ctx, param=param)
    return values


def _url(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"expected an http:// or https:// URL, got {value!r}",
                                 ctx=ctx, param=param)
    return value


def _label_list(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[list]:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise click.BadParameter("expected a comma-separated list of labels", ctx=ctx, param=param)
    return items


def _exclusive(**given: Any) -> None:
    """Raise a UsageError when more than one of the named options was given."""
    named = [f"--{k.replace('_', '-')}" for k, v in given.items() if v not in (None, False, ())]
    if len(named) > 1:
        raise click.UsageError(f"{' and '.join(named)} exclude each other")


def handle_errors(fn: Callable) -> Callable:
    """Turn library errors into one line on stderr and an exit code (2 input, 1 other)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return fn(*args, **kwargs)
        except LrdError as exc:
            if debug:
                raise
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted; outputs already written are intact", 130)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as exc:  # a bug or an environment failure
            if debug:
                raise
            _fail(f"{type(exc).__name__}: {exc} (run with --debug for the traceback)", 1)

    return wrapper


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="lrdgraph")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """Relation-aware sequential recommendation with latent relations discovered from item text.

    \b
    Typical use:
      lrdgraph build-graph --dataset demo --out runs/demo-graph
      lrdgraph train runs/demo-graph --model kda --lrd --out runs/demo-kda
      lrdgraph evaluate runs/demo-kda
    """


# ---------------------------------------------------------------------------- build-graph
@cli.command("build-graph", context_settings=CONTEXT)
@click.option("--dataset", "kind", type=click.Choice(["demo", "rechorus", "ml-100k", "csv"]),
              required=True, help="Input format.")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Directory of a rechorus / ml-100k / csv data set.")
@click.option("--interactions", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="csv: interactions file (user, item, timestamp).")
@click.option("--items", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="csv: items file (id, text and attribute columns).")
@click.option("--relations", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="csv: relations file (head, relation, tail).")
@click.option("--user-col", default=None, help="csv: user column [user].")
@click.option("--item-col", default=None, help="csv: item column of interactions [item].")
@click.option("--time-col", default=None, help="csv: timestamp column [timestamp].")
@click.option("--item-id-col", default=None, help="csv: id column of the items file [item].")
@click.option("--text-cols", default=None, help="csv: comma-separated text columns of items.")
@click.option("--attr-cols", default=None, help="csv: comma-separated attribute columns of items.")
@click.option("--k-core", type=click.IntRange(min=0), default=None,
              help="ml-100k / csv: k-core filtering (ml-100k default 5, csv default 0).")
@click.option("--genres", type=click.Choice(["one", "per-flag"]), default=None,
              help="ml-100k: one multi-valued genre relation (the paper's) [one], or one "
              "relation per genre flag (the reference notebook's 20 relations).")
@click.option("--ties", type=click.Choice(["input", "shuffle"]), default=None,
              help="ml-100k / csv: order of a user's interactions with the same timestamp, "
              "which picks the test and dev items: file order [input], or random (--tie-seed).")
@click.option("--tie-seed", type=SEED, default=None,
              help="Seed of --ties shuffle [0]; the negatives keep --seed.")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed of generated splits / negatives / demo data.")
@click.option("--encoder", type=click.Choice(["local", "openai", "tfidf"]), default="local",
              show_default=True, help="Text feature backend.")
@click.option("--encoder-model", default=None,
              help="Model name (openai) or local sentence-transformers directory (local).")
@click.option("--base-url", default=None, callback=_url, help="OpenAI-compatible server (openai "
              "only); the key comes from OPENAI_API_KEY.")
@click.option("--dim", type=click.IntRange(min=2), default=None, help="tfidf: feature size [64].")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Feature cache [$LRDGRAPH_CACHE or ~/.cache/lrdgraph/features].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Graph directory to write.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out.")
@click.option("--quiet", is_flag=True, help="No progress bars (shown only on a terminal).")
@handle_errors
def build_graph_cmd(kind: str, data_dir: Optional[Path], interactions: Optional[Path],
                    items: Optional[Path], relations: Optional[Path], user_col, item_col, time_col,
                    item_id_col, text_cols, attr_cols, k_core, genres, ties, tie_seed, seed: int,
                    encoder: str, encoder_model, base_url, dim, cache_dir, out: Path,
                    overwrite: bool, quiet: bool) -> None:
    """Read a data set, encode item text and write the item graph to --out."""
    from lrdgraph.api import build_graph_dir

    if base_url and encoder != "openai":
        raise click.UsageError("--base-url applies to --encoder openai only")
    if dim is not None and encoder != "tfidf":
        raise click.UsageError("--dim applies to --encoder tfidf only")
    if encoder_model is not None and encoder == "tfidf":
        raise click.UsageError("--encoder-model applies to --encoder local and openai only")
    if kind == "demo" and data_dir is not None:
        raise click.UsageError("--data-dir does not apply to --dataset demo")
    options: dict = {}
    if kind in ("rechorus", "ml-100k"):
        if data_dir is None:
            raise click.UsageError(f"--dataset {kind} needs --data-dir")
        options["data_dir"] = data_dir
    elif kind == "csv":
        if interactions is None and data_dir is None:
            raise click.UsageError("--dataset csv needs --interactions (or --data-dir)")
        if interactions is not None and data_dir is not None:
            raise click.UsageError("give either --interactions or --data-dir, not both")
        options["interactions"] = interactions or data_dir
        for key, val in (("items", items), ("relations", relations), ("user_col", user_col),
                         ("item_col", item_col), ("time_col", time_col),
                         ("item_id_col", item_id_col)):
            if val is not None:
                options[key] = val
        if text_cols:
            options["text_cols"] = [c.strip() for c in text_cols.split(",") if c.strip()]
        if attr_cols:
            options["attr_cols"] = [c.strip() for c in attr_cols.split(",") if c.strip()]
    if kind != "csv" and any(v is not None for v in (interactions, items, relations, user_col,
                                                      item_col, time_col, text_cols, attr_cols)):
        raise click.UsageError("--interactions/--items/--relations/--*-col apply to --dataset csv only")
    if kind in ("ml-100k", "csv", "demo"):
        options["seed"] = seed
    if k_core is not None:
        if kind not in ("ml-100k", "csv"):
            raise click.UsageError("--k-core applies to --dataset ml-100k and csv only")
        options["k_core"] = k_core
    if genres is not None:
        if kind != "ml-100k":
            raise click.UsageError("--genres applies to --dataset ml-100k only")
        options["genres"] = genres
    if tie_seed is not None and ties != "shuffle":
        raise click.UsageError("--tie-seed applies to --ties shuffle only")
    if ties is not None:
        if kind not in ("ml-100k", "csv"):
            raise click.UsageError("--ties applies to --dataset ml-100k and csv only")
        options["ties"] = ties
        if tie_seed is not None:
            options["tie_seed"] = tie_seed
    info = build_graph_dir(kind, options, out, encoder=encoder, encoder_model=encoder_model,
                           base_url=base_url, dim=dim, cache_dir=cache_dir, overwrite=overwrite,
                           progress=not quiet)
    click.echo(_format_info(info))
    click.echo(f"graph written to {out}")


def _format_info(info: dict) -> str:
    lines = [f"data set: {info['name']}"]
    lines.append("nodes:  " + ", ".join(f"{k} {v:,}" for k, v in info["nodes"].items()))
    lines.append("edges:")
    lines += [f"  {k:<32} {v:>12,}" for k, v in info["edges"].items()]
    lines.append("splits: " + ", ".join(f"{k} {v:,}" for k, v in info["splits"].items()))
    lines.append("relations: " + ", ".join(info["relations"]))
    tri = info.get("triplets")
    if tri:  # the paper's Table 2 "#triplets"
        edges, shared = sum(tri["item_item"].values()), sum(tri["share_attribute"].values())
        missing = sum(tri["missing_pairs"].values())
        lines.append(f"triplets: {edges + shared:,} (item-item {edges:,}, share-attribute "
                     f"{shared:,}: ordered item pairs, once per shared value); "
                     f"{edges + shared + missing:,} counting items that both lack an attribute "
                     "as sharing it, as the paper's Table 2 does")
    tc = info["text_coverage"]
    lines.append(f"text: {tc['items_with_text']:,} / {tc['items']:,} items ({tc['fraction']:.1%})")
    enc = info["encoder"]
    lines.append(f"encoder: {enc.get('backend')} {enc.get('model', '')} (dim {info['feature_dim']})")
    dropped = (info.get("report") or {}).get("dropped_relation_edges") or {}
    if any(dropped.values()):
        lines.append("dropped relation edges naming unknown items: "
                     + ", ".join(f"{k} {v}" for k, v in dropped.items()))
    for w in (info.get("report") or {}).get("warnings", []) or []:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


@cli.command("graph-info", context_settings=CONTEXT)
@click.argument("graph_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Readable table, or JSON for scripts.")
@handle_errors
def graph_info_cmd(graph_dir: Path, fmt: str) -> None:
    """Counts per node and edge type, text coverage and encoder of a graph directory."""
    from lrdgraph.graph import load_graph
    from lrdgraph.io import to_jsonable

    info = load_graph(graph_dir).info()
    click.echo(json.dumps(to_jsonable(info), indent=2) if fmt == "json" else _format_info(info))


# ---------------------------------------------------------------------------- train
@cli.command("train", context_settings=CONTEXT)
@click.argument("graph_dir", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--model", type=click.Choice(list(MODEL_NAMES)), default=None,
              help="Recommender [kda]; caser, gru4rec, sasrec, tisasrec are baselines without "
              "KGE or LRD.")
@click.option("--lrd/--no-lrd", default=None, help="Latent relation discovery [on].")
@click.option("--num-latent", type=click.IntRange(min=0), default=None, help="Latent relations K.")
@click.option("--lrd-objective", type=click.Choice(["paper", "reference", "mi"]), default=None,
              help="LRD objective: the paper's, the reference code's, or ours (mi).")
@click.option("--lrd-features", type=click.Choice(["text", "id"]), default=None,
              help="Extractor input: text features, or ID embeddings (the 'w/o LLM' ablation).")
@click.option("--kge/--no-kge", default=None, help="Knowledge-graph-embedding task [on].")
@click.option("--relation-evidence", type=click.Choice(["none", "graph"]), default=None,
              help="Relation intensity from the learned score only [none, the reference], or "
              "also from the graph's edges, shared attributes and latent weights.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Maximum epochs [200].")
@click.option("--patience", type=click.IntRange(min=0), default=None,
              help="Early stopping: epochs without a dev NDCG@5 gain [10]; 0: never stop early.")
@click.option("--lr", type=FiniteFloatRange(min=0, min_open=True), default=None,
              help="Adam learning rate [1e-3; RCF 1e-4].")
@click.option("--seed", type=SEED, default=None, help="Seed of python, numpy and torch [2019].")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default=None,
              help="Where to train [auto: cuda when there is one].")
@click.option("--deterministic", is_flag=True, default=None, help="Deterministic torch algorithms.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML config file (see lrdgraph/configs/defaults.yaml).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", callback=_key_values,
              help="Override any setting, e.g. --set lrd.lambda=5 (repeatable).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory.")
@click.option("--resume", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Continue an interrupted run directory (with --set, only the settings that do "
              "not change the model: train.num_threads, train.compile, train.device, "
              "eval.batch_size, eval.full_pairs). With GRAPH_DIR: the run's graph has moved "
              "(another machine); it must have the run's id maps.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out.")
@click.option("--quiet", is_flag=True, help="No progress bars (shown only on a terminal).")
@handle_errors
def train_cmd(graph_dir, model, lrd, num_latent, lrd_objective, lrd_features, kge,
              relation_evidence, epochs, patience, lr, seed, device, deterministic, config_file,
              overrides, out, resume, overwrite, quiet) -> None:
    """Train a recommender on GRAPH_DIR into --out: RCF or KDA (with LRD and the KGE task) or a
    baseline (Caser, GRU4Rec, SASRec, TiSASRec)."""
    from lrdgraph.config import resolve_config
    from lrdgraph.train.trainer import resume as resume_run
    from lrdgraph.train.trainer import train

    if resume is not None:
        if out is not None or config_file is not None:
            raise click.UsageError("--resume takes the run directory (its config is reused) and, "
                                   "for a run moved from another machine, GRAPH_DIR")
        ignored = {"--model": model, "--lrd/--no-lrd": lrd, "--num-latent": num_latent,
                   "--lrd-objective": lrd_objective, "--lrd-features": lrd_features,
                   "--kge/--no-kge": kge, "--relation-evidence": relation_evidence,
                   "--epochs": epochs, "--patience": patience, "--lr": lr, "--seed": seed,
                   "--device": device, "--deterministic": deterministic,
                   "--overwrite": overwrite or None}
        named = [k for k, v in ignored.items() if v is not None]
        if named:
            raise click.UsageError(f"--resume reuses the run's configuration; it takes no "
                                   f"{', '.join(named)}")
        from lrdgraph.train.trainer import RUNTIME_KEYS, non_runtime_keys

        fixed = non_runtime_keys(list(overrides))
        if fixed:
            raise click.UsageError(f"--resume reuses the run's configuration; --set may change only "
                                   f"{', '.join(RUNTIME_KEYS)}, not {', '.join(fixed)}")
        resume_run(resume, progress=not quiet, runtime=list(overrides), graph_dir=graph_dir)
        click.echo(f"results in {resume / 'results.json'}")
        return
    options = {"model.name": model, "lrd.enabled": lrd, "lrd.num_latent": num_latent,
               "lrd.objective": lrd_objective, "lrd.features": lrd_features, "kge.enabled": kge,
               "model.relation_evidence": relation_evidence, "train.epochs": epochs,
               "train.patience": patience, "train.lr": lr, "train.seed": seed,
               "train.device": device, "train.deterministic": deterministic}
    cfg = resolve_config(model=model, config_file=config_file, options=options, overrides=overrides)
    if graph_dir is None:
        graph_dir = (cfg.get("data") or {}).get("graph")
        if graph_dir is None:
            raise click.UsageError("give GRAPH_DIR (or data.graph in the --config file)")
    if out is None:
        raise click.UsageError("--out is required (the run directory)")
    train(graph_dir, cfg, out, overwrite=overwrite, progress=not quiet)
    click.echo(f"results in {out / 'results.json'}")


@cli.command("evaluate", context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--protocol", type=click.Choice(["sampled", "full", "both"]), default="both",
              show_default=True, help="sampled: 1 positive + the split's sampled negatives; "
              "full: every item, the user's known items masked.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Readable table, or JSON for scripts.")
@click.option("--quiet", is_flag=True, help="No progress bars (shown only on a terminal).")
@handle_errors
def evaluate_cmd(run_dir: Path, protocol: str, fmt: str, quiet: bool) -> None:
    """Evaluate a run's best checkpoint on the test split (both protocols by default)."""
    from lrdgraph.train.trainer import evaluate_run

    protocols = ["sampled", "full"] if protocol == "both" else [protocol]
    res = evaluate_run(run_dir, protocols, progress=not quiet)
    if fmt == "json":
        click.echo(json.dumps(res, indent=2))
        return
    for p, m in res.items():
        click.echo(f"{p:8s} " + "  ".join(f"{k}={v:.4f}" for k, v in m.items() if k != "rows")
                   + f"  ({m['rows']} rows)")


# ---------------------------------------------------------------------------- experiment
@cli.command("experiment", context_settings=CONTEXT)
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Experiment directory (runs/, logs/, results.csv, tables, figures).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Cells trained at once, each in its own process.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Torch threads per job [CPU cores / jobs when --jobs > 1].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", callback=_key_values,
              help="Add a setting to the spec's global `set` (data set, model and variant "
              "settings still win; repeatable).")
@click.option("--model", "models", multiple=True, metavar="LABEL",
              help="Train only this row of the grid (a label under `models:`; repeatable).")
@click.option("--dataset", "datasets", multiple=True, metavar="NAME",
              help="Train only this data set of the grid (repeatable).")
@click.option("--seed", "seeds", multiple=True, type=SEED,
              help="Train only this seed of the grid (repeatable). The report still covers "
              "every finished cell; a later run without these filters resumes the rest.")
@click.option("--variant", "variants", multiple=True, metavar="NAME",
              help="Train only this variant of the grid (an ablation name such as 'w/o KGE', "
              "or a sweep value such as 'lrd.lambda=0.1'; repeatable).")
@click.option("--dry-run", is_flag=True, help="List the cells and their state; run nothing.")
@click.option("--report-only", is_flag=True,
              help="Train nothing; rewrite results.csv, tables and figures from finished cells.")
@click.option("--overwrite", is_flag=True, help="Delete --out and start the experiment afresh.")
@click.option("--merge", "merge", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Another run's results.csv (another machine, an earlier session, a "
                   "committed copy): its finished cells fill the report's unfinished ones and "
                   "are not trained; rows of another spec fill the cells whose configuration "
                   "they equal (repeatable).")
@handle_errors
def experiment_cmd(spec: Path, out: Path, jobs: int, threads: Optional[int], overrides, models,
                   datasets, seeds, variants, dry_run: bool, report_only: bool, overwrite: bool,
                   merge: Tuple[Path, ...]) -> None:
    """Run the grid of SPEC (models x data sets x variants x seeds) into --out and write the
    paper's tables and figures. Finished cells are kept; interrupted ones resume. The spec
    format is in docs/experiments.md; the paper's specs are in benchmarks/."""
    from lrdgraph.experiment import grid_status, load_spec, run_experiment

    if dry_run and (report_only or overwrite):
        raise click.UsageError("--dry-run lists the cells only; it takes no --report-only/--overwrite")
    _exclusive(report_only=report_only, overwrite=overwrite)
    parsed = load_spec(spec, extra_set=overrides)
    if dry_run:
        rows = grid_status(parsed, out, models=models, datasets=datasets, seeds=seeds,
                           variants=variants, merge=merge)
        for r in rows:
            detail = f"  ({r['detail']})" if r["detail"] else ""
            click.echo(f"{r['state']:8s} {r['cell'].name}{detail}")
        counts = {s: sum(r["state"] == s for r in rows) for s in ("done", "merged", "partial", "new")}
        click.echo(f"{len(rows)} cells: {counts['done']} finished, "
                   + (f"{counts['merged']} merged, " if merge else "")
                   + f"{counts['partial']} to resume, {counts['new']} new")
        return
    res = run_experiment(parsed, out, jobs=jobs, threads=threads, overwrite=overwrite,
                         report_only=report_only, models=models, datasets=datasets, seeds=seeds,
                         variants=variants, merge=merge)
    for f in res["files"]:
        click.echo(f"wrote {f}")


# ---------------------------------------------------------------------------- analysis
def _candidate_options(fn: Callable) -> Callable:
    """Options shared by the commands that score candidate pairs with the extractor."""
    opts = [
        click.option("--window", type=click.IntRange(min=0), default=DEFAULT_WINDOW,
                     show_default=True, help="Candidate pairs: items at most this many positions "
                     "apart in a user's train history."),
        click.option("--knn", type=click.IntRange(min=0), default=DEFAULT_KNN, show_default=True,
                     help="Candidate pairs: each item's nearest neighbours in text-feature space."),
        click.option("--chunk-size", type=click.IntRange(min=1), default=DEFAULT_CHUNK,
                     show_default=True, help="Pairs (or similarity cells) computed at once: "
                     "bounds memory."),
        click.option("--max-pairs", type=click.IntRange(min=1), default=DEFAULT_MAX_PAIRS,
                     show_default=True, help="Refuse to go on beyond this many candidate pairs."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


@cli.command("export-edges", context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["tsv", "csv", "parquet", "graphml", "gexf",
                                                     "neo4j", "recbole", "rechorus"]),
              required=True, help="Output format (neo4j, recbole, rechorus write a directory).")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Output file, or directory for neo4j / recbole / rechorus.")
@click.option("--relations", "relations", default=None, callback=_label_list,
              help="Comma-separated relation labels to keep (default: all).")
@click.option("--min-weight", type=FiniteFloatRange(0, 1, max_open=True), default=DEFAULT_MIN_WEIGHT,
              show_default=True, help="Keep edges with weight above this; a latent edge's weight "
              "is q(latent_k | i, j), predefined edges weigh 1.")
@click.option("--top-k", type=click.IntRange(min=1), default=None,
              help="Keep the K heaviest edges per item and relation.")
@click.option("--latent-only", is_flag=True, help="Latent edges only.")
@click.option("--include-attributes", is_flag=True, help="Add item→attribute-value edges.")
@_candidate_options
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
@click.option("--quiet", is_flag=True, help="No progress bars (shown only on a terminal).")
@handle_errors
def export_edges_cmd(run_dir: Path, fmt: str, out: Path, relations: Optional[list],
                     min_weight: float, top_k: Optional[int], latent_only: bool,
                     include_attributes: bool, window: int, knn: int, chunk_size: int,
                     max_pairs: int, overwrite: bool, quiet: bool) -> None:
    """Export a run's predefined and latent item edges (original ids) for other tools."""
    from lrdgraph.analysis.export import export_edges

    _exclusive(latent_only=latent_only, include_attributes=include_attributes)
    info = export_edges(run_dir, out, fmt, relations=relations, min_weight=min_weight,
                        top_k=top_k, latent_only=latent_only,
                        include_attributes=include_attributes, window=window, knn=knn,
                        chunk_size=chunk_size, max_pairs=max_pairs, overwrite=overwrite,
                        progress=not quiet)
    if info["candidate_pairs"]:
        click.echo(f"{info['candidate_pairs']:,} candidate pairs scored for latent edges")
    click.echo(f"{info['edges']:,} edges: " + (", ".join(
        f"{k} {v:,}" for k, v in info["by_relation"].items()) or "none"))
    if info["candidate_pairs"] and not info["by_source"].get("latent"):
        click.echo(f"note: no latent edge has q above --min-weight {min_weight}; lower it to see "
                   "the extractor's weaker preferences")
    click.echo("written: " + ", ".join(info["files"]))


@cli.command("recommend", context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--user", default=None, help="A known user's original id.")
@click.option("--history", default=None, help='Ad-hoc history: "id1,id2,..." (original item '
              "ids, oldest first); the user embedding is then the mean of all users'.")
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True,
              help="Number of items to recommend.")
@click.option("--explain", is_flag=True, help="Show the history items and relations behind "
              "each recommendation.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Readable table, or JSON for scripts.")
@handle_errors
def recommend_cmd(run_dir: Path, user: Optional[str], history: Optional[str], k: int,
                  explain: bool, fmt: str) -> None:
    """Top-k items for a known user or an ad-hoc history, optionally with reasons."""
    from lrdgraph.analysis.recommend import format_recommendations, recommend

    if (user is None) == (history is None):
        raise click.UsageError("give exactly one of --user and --history")
    hist = None
    if history is not None:
        hist = [h.strip() for h in history.split(",") if h.strip()]
        if not hist:
            raise click.UsageError("--history is empty")
    res = recommend(run_dir, user=user, history=hist, k=k, explain=explain)
    click.echo(json.dumps(res, indent=2, ensure_ascii=False) if fmt == "json"
               else format_recommendations(res))


@cli.command("relations", context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for relations.json, relation_similarity.png, top_pairs.csv.")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="Top pairs kept per relation.")
@click.option("--name", "name", is_flag=True, help="Name the latent relations (stored in the "
              "run directory as relation_names.json; used by export-edges and recommend).")
@click.option("--naming", type=click.Choice(["auto", "chat", "tfidf"]), default="auto",
              show_default=True, help="auto: a chat model when --base-url or OPENAI_API_KEY is "
              "set, else (or when it fails) TF-IDF terms of the top pairs.")
@click.option("--base-url", default=None, callback=_url, help="OpenAI-compatible chat server; "
              "the key comes from OPENAI_API_KEY.")
@click.option("--chat-model", default=None, help="Chat model name [gpt-4o-mini].")
@_candidate_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Readable table, or JSON for scripts.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out.")
@click.option("--quiet", is_flag=True, help="No progress bars (shown only on a terminal).")
@handle_errors
def relations_cmd(run_dir: Path, out: Path, top: int, name: bool, naming: str,
                  base_url: Optional[str], chat_model: Optional[str], window: int, knn: int,
                  chunk_size: int, max_pairs: int, fmt: str, overwrite: bool, quiet: bool) -> None:
    """What each relation slot stands for: top pairs, wins, overlap, similarity, NMI."""
    from lrdgraph.analysis.relations import format_relations, relations_report

    if (base_url or chat_model or naming != "auto") and not name:
        raise click.UsageError("--naming, --base-url and --chat-model apply with --name only")
    res = relations_report(run_dir, out, top=top, window=window, knn=knn, chunk_size=chunk_size,
                           max_pairs=max_pairs, name=name, naming=naming, base_url=base_url,
                           chat_model=chat_model, overwrite=overwrite, progress=not quiet,
                           warn=lambda m: click.echo(f"warning: {m}", err=True))
    if fmt == "json":
        click.echo(json.dumps(res, indent=2, ensure_ascii=False))
        return
    click.echo(format_relations(res))
    if res.get("naming"):
        click.echo(f"latent relations named ({res['naming']['method']}); names stored in "
                   f"{run_dir / 'relation_names.json'}")
    click.echo(f"written to {out}")


@cli.command("report", context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="HTML file to write.")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True,
              help="Top pairs shown per relation.")
@_candidate_options
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
@click.option("--quiet", is_flag=True, help="No progress bars (shown only on a terminal).")
@handle_errors
def report_cmd(run_dir: Path, out: Path, top: int, window: int, knn: int, chunk_size: int,
               max_pairs: int, overwrite: bool, quiet: bool) -> None:
    """One self-contained HTML page about a run: config, results, curves, relations."""
    from lrdgraph.analysis.report import write_report

    write_report(run_dir, out, top=top, window=window, knn=knn, chunk_size=chunk_size,
                 max_pairs=max_pairs, overwrite=overwrite, progress=not quiet)
    click.echo(f"report written to {out}")


@cli.command("synth", context_settings=CONTEXT)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory to write (generic CSV: interactions, items, relations).")
@click.option("--users", type=click.IntRange(min=1), default=192_403, show_default=True,
              help="Number of users (the defaults are Amazon Electronics' counts).")
@click.option("--items", "num_items", type=click.IntRange(min=2), default=63_001, show_default=True,
              help="Number of items.")
@click.option("--interactions", type=click.IntRange(min=1), default=1_682_498, show_default=True,
              help="Number of interactions.")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed of the generator (the same seed writes the same files).")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out.")
@handle_errors
def synth_cmd(out: Path, users: int, num_items: int, interactions: int, seed: int,
              overwrite: bool) -> None:
    """Write a synthetic data set shaped like Amazon Electronics (for scale tests).

    \b
    Then: lrdgraph build-graph --dataset csv --data-dir OUT --attr-cols category,brand \\
              --text-cols title --encoder tfidf --out g/synth
    """
    from lrdgraph.data.synth import write_synth

    if interactions < 5 * users:
        raise click.BadParameter("need at least 5 interactions per user",
                                 param_hint="'--interactions'")
    stats = write_synth(out, overwrite=overwrite, num_users=users, num_items=num_items,
                        num_interactions=interactions, seed=seed)
    click.echo("  ".join(f"{k} {v:,}" for k, v in stats.items()))
    click.echo(f"written to {out}")


def main() -> None:
    cli(prog_name="lrdgraph")


if __name__ == "__main__":
    main()
