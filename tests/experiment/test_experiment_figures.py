"""Ablation and sensitivity variant groups give CSVs and figures; the command line drives it."""
from __future__ import annotations

import csv

import pytest
import yaml
from click.testing import CliRunner

TINY = ["model.emb_size=16", "train.device=cpu", "train.batch_size=128", "train.epochs=1",
        "train.num_threads=1", "eval.ks=[5,10]", "eval.batch_size=128"]


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def grid(demo_graph_dir, tmp_path_factory):
    """One baseline (the cheapest to train) x 2 ablation variants + a 2-value sweep, run
    through ``lrdgraph experiment``."""
    from lrdgraph_cli.main import cli

    root = tmp_path_factory.mktemp("figures")
    spec = {"name": "figs", "datasets": {"demo": str(demo_graph_dir)},
            "models": {"GRU4Rec": "gru4rec"}, "seeds": [1],
            "set": TINY,
            "variants": {"narrow": ["model.hidden_size=8"], "wide": ["model.hidden_size=32"]},
            "ablation": {"variants": ["narrow", "wide"]},
            "sensitivity": {"train.lr": [0.001, 0.01]},
            "report": {"protocols": ["sampled"], "metrics": ["HR@5", "NDCG@5"]}}
    path = root / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = root / "out"
    runner = CliRunner()
    dry = runner.invoke(cli, ["experiment", str(path), "--out", str(out), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    res = runner.invoke(cli, ["experiment", str(path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out, dry.output, res.output


def test_dry_run_lists_cells_and_writes_nothing(grid):
    out, dry, _ = grid
    assert dry.splitlines()[0] == "new      demo__GRU4Rec__narrow__seed1"
    assert dry.splitlines()[-1] == "4 cells: 0 finished, 0 to resume, 4 new"


def test_files_written(grid):
    out, _, output = grid
    names = {"results.csv", "summary.csv", "table_sampled.md", "ablation.csv",
             "ablation_sampled.png", "sensitivity.csv", "sensitivity_train_lr_sampled.png"}
    assert names <= {p.name for p in out.iterdir()}
    assert not (out / "table_full.md").exists()  # report.protocols: [sampled]
    for png in ("ablation_sampled.png", "sensitivity_train_lr_sampled.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        assert f"wrote {out / png}" in output


def test_ablation_and_sensitivity_csv_match_summary(grid):
    out, _, _ = grid
    summary = {(r["variant"], r["protocol"], r["metric"]): r["mean"]
               for r in read_csv(out / "summary.csv")}
    abl = read_csv(out / "ablation.csv")
    # the cells evaluate both protocols (eval.protocols); the report shows the sampled one;
    # "dev": the dev metrics at the selected epoch
    assert {(r["variant"], r["protocol"], r["metric"]) for r in abl} == {
        (v, p, m) for v in ("narrow", "wide") for p in ("sampled", "full", "dev")
        for m in ("HR@5", "NDCG@5", "HR@10", "NDCG@10")}
    assert all(r["mean"] == summary[(r["variant"], r["protocol"], r["metric"])] for r in abl)
    sens = read_csv(out / "sensitivity.csv")
    assert {(r["key"], r["value"]) for r in sens} == {("train.lr", "0.001"), ("train.lr", "0.01")}
    assert all(r["variant"] == f"train.lr={r['value']}" for r in sens)
    assert all(r["mean"] == summary[(r["variant"], r["protocol"], r["metric"])] for r in sens)


def test_table_has_one_section_per_variant(grid):
    out, _, _ = grid
    text = (out / "table_sampled.md").read_text()
    assert [ln for ln in text.splitlines() if ln.startswith("## ")] == [
        "## Variant `narrow` (model.hidden_size=8)", "## Variant `wide` (model.hidden_size=32)",
        "## Variant `train.lr=0.001`", "## Variant `train.lr=0.01`"]
    assert "| Model | demo HR@5 | demo NDCG@5 |" in text


def test_report_only_rewrites_without_training(grid, monkeypatch):
    from lrdgraph_cli.main import cli
    import lrdgraph.train.trainer as trainer

    out, _, _ = grid
    monkeypatch.setattr(trainer, "train", lambda *a, **k: pytest.fail("trained"))
    monkeypatch.setattr(trainer, "resume", lambda *a, **k: pytest.fail("resumed"))
    (out / "table_sampled.md").unlink()
    res = CliRunner().invoke(cli, ["experiment", str(out / "spec.yaml"), "--out", str(out),
                                   "--report-only"])
    assert res.exit_code == 0, res.output
    assert (out / "table_sampled.md").exists()


def test_cli_errors_exit_2(tmp_path):
    from lrdgraph_cli.main import cli

    path = tmp_path / "bad.yaml"
    path.write_text("datasets: {d: g}\nmodels: {X: nope}\nseeds: [1]\n")
    res = CliRunner().invoke(cli, ["experiment", str(path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "must be one of" in res.output


def test_dry_run_with_a_selection_lists_only_those_cells(grid):
    from lrdgraph_cli.main import cli

    out, _, _ = grid
    res = CliRunner().invoke(cli, ["experiment", str(out / "spec.yaml"), "--out", str(out),
                                   "--dry-run", "--model", "GRU4Rec", "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[-1] == "4 cells: 4 finished, 0 to resume, 0 new"
    bad = CliRunner().invoke(cli, ["experiment", str(out / "spec.yaml"), "--out", str(out),
                                   "--dry-run", "--model", "SASRec"])
    assert bad.exit_code == 2 and "model SASRec not in the spec; it has GRU4Rec" in bad.output


def test_variant_selection_names_an_ablation_or_a_sweep_value(grid):
    """--variant picks cells by variant name: an ablation variant or one value of a sweep."""
    from lrdgraph_cli.main import cli

    out, _, _ = grid
    res = CliRunner().invoke(cli, ["experiment", str(out / "spec.yaml"), "--out", str(out),
                                   "--dry-run", "--variant", "train.lr=0.01",
                                   "--variant", "narrow"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == ["done     demo__GRU4Rec__narrow__seed1",
                                       "done     demo__GRU4Rec__train.lr-0.01__seed1",
                                       "2 cells: 2 finished, 0 to resume, 0 new"]
    bad = CliRunner().invoke(cli, ["experiment", str(out / "spec.yaml"), "--out", str(out),
                                   "--dry-run", "--variant", "train.lr=0.1"])
    assert bad.exit_code == 2
    assert ("variant train.lr=0.1 not in the spec; it has narrow, wide, train.lr=0.001, "
            "train.lr=0.01") in bad.output


def test_legends_keep_their_colours_when_a_panel_is_empty(tmp_path, monkeypatch):
    """The legend sits on the first row's last panel; with no finished cell there it still
    shows every variant (model) in the colour its bars (lines) have in the other panels."""
    import lrdgraph.experiment as ex
    import lrdgraph.experiment.figures as figures
    from matplotlib.colors import to_hex

    spec = ex.load_spec({"name": "two", "datasets": {"A": str(tmp_path / "a"), "B": str(tmp_path / "b")},
                         "models": {"M1": "gru4rec", "M2": "caser"}, "seeds": [1],
                         "variants": {"v1": [], "v2": ["model.hidden_size=8"]},
                         "ablation": {"variants": ["v1", "v2"]},
                         "sensitivity": {"train.lr": [0.001, 0.01]},
                         "report": {"protocols": ["sampled"], "metrics": ["NDCG@5"]}})
    rows = [{"status": "done", "dataset": "B", "model": m, "variant": v, "protocol": "sampled",
             "seed": 1, "NDCG@5": 0.1 * (k + 1)}
            for k, (m, v) in enumerate([(m, v) for m in ("M1", "M2")
                                        for v in ("v1", "v2", "train.lr=0.001", "train.lr=0.01")])]
    stats = ex.SeedStats(rows)
    figs = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: figs.append(fig) or path)
    figures.plot_ablation(spec, stats, "sampled", tmp_path / "a.png")
    figures.plot_sensitivity(spec, stats, "train.lr", "sampled", tmp_path / "s.png")
    # ablation: legend on the empty panel of data set A names both variants, in two colours,
    # each the colour of that variant's bars in data set B's panel
    from matplotlib.container import BarContainer

    (legend,) = [ax.get_legend() for ax in figs[0].axes if ax.get_legend()]
    assert "A:" in legend.axes.get_title() and not legend.axes.patches  # an empty panel
    labels = [t.get_text() for t in legend.get_texts()]
    colours = [to_hex(h.get_facecolor()) for h in legend.legend_handles]
    assert labels == ["v1", "v2"] and len(set(colours)) == 2
    b_panel = figs[0].axes[-1]
    assert [to_hex(c.patches[0].get_facecolor()) for c in b_panel.containers
            if isinstance(c, BarContainer)] == colours
    # sensitivity: the same for the models' lines
    (legend,) = [ax.get_legend() for ax in figs[1].axes if ax.get_legend()]
    assert [t.get_text() for t in legend.get_texts()] == ["M1", "M2"]
    colours = [to_hex(h.get_color()) for h in legend.legend_handles]
    assert len(set(colours)) == 2
    assert [(c.get_label(), to_hex(c.lines[0].get_color())) for c in figs[1].axes[-1].containers
            ] == list(zip(["M1", "M2"], colours))


def test_sensitivity_draws_each_seed_and_says_n_where_it_varies(tmp_path, monkeypatch):
    """A sweep whose points rest on different seeds: every seed gets a thin line through exactly
    the points it finished, with its values, and each point of the mean line names its n."""
    import lrdgraph.experiment as ex
    import lrdgraph.experiment.figures as figures

    spec = ex.load_spec({"name": "sweep", "datasets": {"A": str(tmp_path / "a")},
                         "models": {"M": "gru4rec"}, "seeds": [1, 2, 3],
                         "sensitivity": {"train.lr": [0.001, 0.01, 0.1]},
                         "report": {"protocols": ["sampled"], "metrics": ["NDCG@5"],
                                    "plot_metrics": ["NDCG@5"]}})
    have = {"train.lr=0.001": {1: 0.30, 2: 0.34, 3: 0.32}, "train.lr=0.01": {1: 0.40},
            "train.lr=0.1": {1: 0.20, 3: 0.26}}
    rows = [{"status": "done", "dataset": "A", "model": "M", "variant": v, "protocol": "sampled",
             "seed": s, "NDCG@5": val} for v, by in have.items() for s, val in by.items()]
    figs = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: figs.append(fig) or path)
    figures.plot_sensitivity(spec, ex.SeedStats(rows), "train.lr", "sampled", tmp_path / "s.png")
    (ax,) = figs[0].axes
    seeds = {ln.get_gid(): (list(ln.get_xdata()), [round(y, 6) for y in ln.get_ydata()])
             for ln in ax.get_lines() if ln.get_gid()}
    assert seeds == {"seed 1": ([0, 1, 2], [0.30, 0.40, 0.20]), "seed 2": ([0], [0.34]),
                     "seed 3": ([0, 2], [0.32, 0.26])}
    (container,) = ax.containers
    mean_line = container.lines[0]
    assert [round(y, 6) for y in mean_line.get_ydata()] == [0.32, 0.40, 0.23]
    assert [t.get_text() for t in ax.texts] == ["n=3", "n=1", "n=2"]


def test_sensitivity_says_no_n_when_every_point_has_the_same_seeds(tmp_path, monkeypatch):
    import lrdgraph.experiment as ex
    import lrdgraph.experiment.figures as figures

    spec = ex.load_spec({"name": "sweep", "datasets": {"A": str(tmp_path / "a")},
                         "models": {"M": "gru4rec"}, "seeds": [1],
                         "sensitivity": {"train.lr": [0.001, 0.01]},
                         "report": {"protocols": ["sampled"], "metrics": ["NDCG@5"],
                                    "plot_metrics": ["NDCG@5"]}})
    rows = [{"status": "done", "dataset": "A", "model": "M", "variant": v, "protocol": "sampled",
             "seed": 1, "NDCG@5": 0.3} for v in ("train.lr=0.001", "train.lr=0.01")]
    figs = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: figs.append(fig) or path)
    figures.plot_sensitivity(spec, ex.SeedStats(rows), "train.lr", "sampled", tmp_path / "s.png")
    (ax,) = figs[0].axes
    assert not ax.texts  # one seed everywhere: no n labels
    assert not [ln for ln in ax.get_lines() if ln.get_gid()]  # and no per-seed lines


def test_ablation_draws_each_seed_says_n_and_no_error_bar_for_one_seed(tmp_path, monkeypatch):
    """Bars over different seed counts: a dot per seed beside its bar, an n label on every bar,
    and error bars only where two or more seeds give a spread."""
    import lrdgraph.experiment as ex
    import lrdgraph.experiment.figures as figures
    from matplotlib.container import ErrorbarContainer

    spec = ex.load_spec({"name": "abl", "datasets": {"A": str(tmp_path / "a")},
                         "models": {"M": "gru4rec"}, "seeds": [1, 2, 3],
                         "variants": {"v1": [], "v2": ["model.hidden_size=8"]},
                         "ablation": {"variants": ["v1", "v2"]},
                         "report": {"protocols": ["sampled"], "metrics": ["NDCG@5"],
                                    "plot_metrics": ["NDCG@5"]}})
    have = {"v1": {1: 0.30, 2: 0.34, 3: 0.32}, "v2": {2: 0.40}}
    rows = [{"status": "done", "dataset": "A", "model": "M", "variant": v, "protocol": "sampled",
             "seed": s, "NDCG@5": val} for v, by in have.items() for s, val in by.items()]
    figs = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: figs.append(fig) or path)
    figures.plot_ablation(spec, ex.SeedStats(rows), "sampled", tmp_path / "a.png")
    (ax,) = figs[0].axes
    bar_x = [round(p.get_x() + p.get_width() / 2, 6) for p in ax.patches]
    assert [round(p.get_height(), 6) for p in ax.patches] == [0.32, 0.40]
    dots = sorted((ln.get_gid(), round(float(ln.get_xdata()[0]), 6), round(float(ln.get_ydata()[0]), 6))
                  for ln in ax.get_lines() if ln.get_gid())
    off = round(ax.patches[0].get_width() / 4, 6)  # beside the error bar
    assert dots == [("seed 1", round(bar_x[0] + off, 6), 0.30), ("seed 2", round(bar_x[0] + off, 6), 0.34),
                    ("seed 2", round(bar_x[1] + off, 6), 0.40), ("seed 3", round(bar_x[0] + off, 6), 0.32)]
    assert [t.get_text() for t in ax.texts] == ["n=3", "n=1"]
    (err,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    (segments,) = [c.get_segments() for c in err.lines[2]]
    assert len(segments) == 1  # the three-seed bar only
    (lo, hi) = segments[0][:, 1]
    assert round(lo, 6) == 0.30 and round(hi, 6) == 0.34  # mean 0.32 ± std 0.02


def test_ablation_says_no_n_when_every_bar_has_the_same_seeds(tmp_path, monkeypatch):
    import lrdgraph.experiment as ex
    import lrdgraph.experiment.figures as figures

    spec = ex.load_spec({"name": "abl", "datasets": {"A": str(tmp_path / "a")},
                         "models": {"M": "gru4rec"}, "seeds": [1, 2],
                         "variants": {"v1": [], "v2": ["model.hidden_size=8"]},
                         "ablation": {"variants": ["v1", "v2"]},
                         "report": {"protocols": ["sampled"], "metrics": ["NDCG@5"],
                                    "plot_metrics": ["NDCG@5"]}})
    rows = [{"status": "done", "dataset": "A", "model": "M", "variant": v, "protocol": "sampled",
             "seed": s, "NDCG@5": 0.3 + 0.01 * s} for v in ("v1", "v2") for s in (1, 2)]
    figs = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: figs.append(fig) or path)
    figures.plot_ablation(spec, ex.SeedStats(rows), "sampled", tmp_path / "a.png")
    (ax,) = figs[0].axes
    assert not ax.texts
    assert len([ln for ln in ax.get_lines() if ln.get_gid()]) == 4
