"""Every command's options are validated by click before any work: a bad value, a missing
required option, a path that must (not) exist and options that exclude each other all end in
exit code 2 with click's ``Error:`` line naming the option, and no traceback and no output."""
from __future__ import annotations


import pytest
from click.testing import CliRunner

from lrdgraph_cli.main import cli

#: placeholders, replaced per test: DIR an existing directory (it passes ``exists=True`` but is
#: no run or graph), FILE an existing file, MISSING a path that does not exist, OUT the output
DIR, FILE, MISSING, OUT = "<dir>", "<file>", "<missing>", "<out>"

BUILD = ["build-graph", "--dataset", "demo", "--encoder", "tfidf", "--out", OUT]
TRAIN = ["train", DIR, "--out", OUT]
EXPORT = ["export-edges", DIR, "--format", "csv", "--out", OUT]
RECOMMEND = ["recommend", DIR, "--user", "u1"]
RELATIONS = ["relations", DIR, "--out", OUT]
REPORT = ["report", DIR, "--out", OUT]
SYNTH = ["synth", "--out", OUT, "--users", "5", "--items", "5", "--interactions", "50"]

# (arguments, what the Error line must name)
CASES = [
    # build-graph
    (["build-graph", "--dataset", "bogus", "--out", OUT], "'--dataset'"),
    (["build-graph", "--encoder", "tfidf", "--out", OUT], "'--dataset'"),  # missing
    (["build-graph", "--dataset", "demo", "--encoder", "tfidf"], "'--out'"),  # missing
    ([*BUILD, "--encoder", "bert"], "'--encoder'"),
    ([*BUILD, "--dim", "1"], "'--dim'"),
    ([*BUILD, "--dim", "many"], "'--dim'"),
    ([*BUILD, "--seed", "-1"], "'--seed'"),
    ([*BUILD, "--seed", "1.5"], "'--seed'"),
    ([*BUILD, "--k-core", "-1"], "'--k-core'"),
    ([*BUILD, "--genres", "flags"], "'--genres'"),
    ([*BUILD, "--genres", "per-flag"], "--genres applies to --dataset ml-100k only"),
    ([*BUILD, "--ties", "random"], "'--ties'"),
    ([*BUILD, "--ties", "shuffle"], "--ties applies to --dataset ml-100k and csv only"),
    ([*BUILD, "--tie-seed", "3"], "--tie-seed applies to --ties shuffle only"),
    ([*BUILD, "--ties", "shuffle", "--tie-seed", "-2"], "'--tie-seed'"),
    (["build-graph", "--dataset", "rechorus", "--data-dir", MISSING, "--out", OUT], "'--data-dir'"),
    (["build-graph", "--dataset", "rechorus", "--data-dir", FILE, "--out", OUT], "'--data-dir'"),
    (["build-graph", "--dataset", "csv", "--interactions", DIR, "--out", OUT], "'--interactions'"),
    (["build-graph", "--dataset", "csv", "--interactions", MISSING, "--out", OUT], "'--interactions'"),
    (["build-graph", "--dataset", "csv", "--interactions", FILE, "--items", MISSING, "--out", OUT],
     "'--items'"),
    (["build-graph", "--dataset", "csv", "--interactions", FILE, "--relations", DIR, "--out", OUT],
     "'--relations'"),
    ([*BUILD, "--cache-dir", FILE], "'--cache-dir'"),
    (["build-graph", "--dataset", "demo", "--encoder", "tfidf", "--out", FILE], "'--out'"),
    (["build-graph", "--dataset", "demo", "--encoder", "openai", "--base-url", "ftp://host",
      "--out", OUT], "'--base-url'"),
    (["build-graph", "--dataset", "demo", "--encoder", "openai", "--base-url", "localhost:8000",
      "--out", OUT], "'--base-url'"),
    ([*BUILD, "--encoder-model", "m"], "--encoder-model"),  # tfidf takes no model
    ([*BUILD, "--data-dir", DIR], "--data-dir"),  # demo reads no directory
    (["build-graph", "--dataset", "csv", "--interactions", FILE, "--data-dir", DIR, "--encoder",
      "tfidf", "--out", OUT], "--interactions"),  # either, not both
    ([*BUILD, "--dim", "8", "--encoder", "local"], "--dim"),
    # graph-info
    (["graph-info", MISSING], "'GRAPH_DIR'"),
    (["graph-info", FILE], "'GRAPH_DIR'"),
    (["graph-info", DIR, "--format", "xml"], "'--format'"),
    # train
    (["train", MISSING, "--out", OUT], "GRAPH_DIR"),
    ([*TRAIN, "--epochs", "0"], "'--epochs'"),
    ([*TRAIN, "--epochs", "two"], "'--epochs'"),
    ([*TRAIN, "--patience", "-1"], "'--patience'"),
    ([*TRAIN, "--num-latent", "-1"], "'--num-latent'"),
    ([*TRAIN, "--lr", "0"], "'--lr'"),
    ([*TRAIN, "--lr", "-0.1"], "'--lr'"),
    ([*TRAIN, "--lr", "nan"], "'--lr'"),
    ([*TRAIN, "--lr", "inf"], "'--lr'"),
    ([*TRAIN, "--seed", "-3"], "'--seed'"),
    ([*TRAIN, "--model", "bert4rec"], "'--model'"),
    ([*TRAIN, "--device", "tpu"], "'--device'"),
    ([*TRAIN, "--lrd-objective", "x"], "'--lrd-objective'"),
    ([*TRAIN, "--lrd-features", "x"], "'--lrd-features'"),
    ([*TRAIN, "--relation-evidence", "x"], "'--relation-evidence'"),
    ([*TRAIN, "--config", MISSING], "'--config'"),
    ([*TRAIN, "--config", DIR], "'--config'"),
    ([*TRAIN, "--set", "lrd.lambda"], "'--set'"),
    ([*TRAIN, "--set", "=5"], "'--set'"),
    (["train", DIR, "--out", FILE], "'--out'"),
    (["train", "--resume", MISSING], "'--resume'"),
    (["train", "--resume", DIR, "--epochs", "5"], "--epochs"),
    (["train", "--resume", DIR, "--lr", "0.1", "--seed", "2"], "--lr"),
    (["train", "--resume", DIR, "--overwrite"], "--overwrite"),
    (["train", "--resume", DIR, "--out", OUT], "--resume"),
    (["train", "--resume", DIR, "--set", "train.epochs=3"], "--resume"),
    # evaluate
    (["evaluate", MISSING], "'RUN_DIR'"),
    (["evaluate", DIR, "--protocol", "leave-one-out"], "'--protocol'"),
    (["evaluate", DIR, "--format", "csv"], "'--format'"),
    # experiment
    (["experiment", MISSING, "--out", OUT], "'SPEC'"),
    (["experiment", DIR, "--out", OUT], "'SPEC'"),
    (["experiment", FILE], "'--out'"),  # missing
    (["experiment", FILE, "--out", FILE], "'--out'"),
    (["experiment", FILE, "--out", OUT, "--jobs", "0"], "'--jobs'"),
    (["experiment", FILE, "--out", OUT, "--threads", "0"], "'--threads'"),
    (["experiment", FILE, "--out", OUT, "--set", "seeds"], "'--set'"),
    (["experiment", FILE, "--out", OUT, "--seed", "x"], "'--seed'"),
    (["experiment", FILE, "--out", OUT, "--dry-run", "--overwrite"], "--dry-run"),
    (["experiment", FILE, "--out", OUT, "--report-only", "--overwrite"], "--report-only"),
    # export-edges
    (["export-edges", MISSING, "--format", "csv", "--out", OUT], "'RUN_DIR'"),
    (["export-edges", DIR, "--out", OUT], "'--format'"),  # missing
    (["export-edges", DIR, "--format", "csv"], "'--out'"),  # missing
    (["export-edges", DIR, "--format", "xlsx", "--out", OUT], "'--format'"),
    ([*EXPORT, "--min-weight", "1"], "'--min-weight'"),
    ([*EXPORT, "--min-weight", "-0.1"], "'--min-weight'"),
    ([*EXPORT, "--min-weight", "nan"], "'--min-weight'"),
    ([*EXPORT, "--top-k", "0"], "'--top-k'"),
    ([*EXPORT, "--window", "-1"], "'--window'"),
    ([*EXPORT, "--knn", "-2"], "'--knn'"),
    ([*EXPORT, "--chunk-size", "0"], "'--chunk-size'"),
    ([*EXPORT, "--max-pairs", "0"], "'--max-pairs'"),
    ([*EXPORT, "--relations", " , "], "'--relations'"),
    ([*EXPORT, "--latent-only", "--include-attributes"], "--latent-only"),
    # recommend
    (["recommend", MISSING, "--user", "u1"], "'RUN_DIR'"),
    ([*RECOMMEND, "-k", "0"], "'-k'"),
    ([*RECOMMEND, "--format", "xml"], "'--format'"),
    ([*RECOMMEND, "--history", "i1,i2"], "--user"),  # both
    (["recommend", DIR], "--user"),  # neither
    (["recommend", DIR, "--history", " , "], "--history"),
    # relations
    (["relations", MISSING, "--out", OUT], "'RUN_DIR'"),
    (["relations", DIR], "'--out'"),  # missing
    (["relations", DIR, "--out", FILE], "'--out'"),
    ([*RELATIONS, "--top", "0"], "'--top'"),
    ([*RELATIONS, "--naming", "llm"], "'--naming'"),
    ([*RELATIONS, "--name", "--base-url", "api.example.com"], "'--base-url'"),
    ([*RELATIONS, "--naming", "chat"], "--naming"),  # without --name
    ([*RELATIONS, "--window", "-1"], "'--window'"),
    # report
    (["report", MISSING, "--out", OUT], "'RUN_DIR'"),
    (["report", DIR, "--out", DIR], "'--out'"),
    ([*REPORT, "--top", "0"], "'--top'"),
    ([*REPORT, "--chunk-size", "0"], "'--chunk-size'"),
    ([*REPORT, "--max-pairs", "-5"], "'--max-pairs'"),
    # synth
    (["synth"], "'--out'"),  # missing
    (["synth", "--out", FILE], "'--out'"),
    ([*SYNTH, "--users", "0"], "'--users'"),
    ([*SYNTH, "--items", "1"], "'--items'"),
    ([*SYNTH, "--interactions", "0"], "'--interactions'"),
    ([*SYNTH, "--interactions", "20"], "'--interactions'"),  # under 5 per user
    ([*SYNTH, "--seed", "-1"], "'--seed'"),
]


def _case_id(case) -> str:
    args, needle = case
    return f"{args[0]}:{needle.strip(chr(39))}:{'_'.join(a for a in args[1:] if a[0] != '<')[:40]}"


@pytest.mark.parametrize("args, needle", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_option_is_a_usage_error(tmp_path, args, needle):
    d = tmp_path / "dir"
    d.mkdir()
    f = tmp_path / "file.txt"
    f.write_text("user\titem\ttimestamp\n")
    out = tmp_path / "out"
    subst = {DIR: str(d), FILE: str(f), MISSING: str(tmp_path / "missing"), OUT: str(out)}
    argv = [subst.get(a, a) for a in args]
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(cli, argv, prog_name="lrdgraph")
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.output
    assert needle in errors[0], errors[0]
    assert "Usage: lrdgraph" in result.output  # click's usage line, not a library error
    # nothing was written: no output, no lock, no temporary
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not any(d.iterdir())


def test_every_command_has_cases():
    commands = {name for name in cli.commands}
    assert commands <= {args[0] for args, _ in CASES}


def test_every_numeric_option_is_bounded():
    """Every number option of every command has a range (or is a seed, bounded at 0)."""
    import click

    loose = []
    for name, cmd in cli.commands.items():
        for p in cmd.params:
            if isinstance(p.type, (click.types.IntParamType, click.types.FloatParamType)) and \
                    not isinstance(p.type, click.types._NumberRangeBase):
                loose.append(f"{name} {p.opts[0]}")
    assert loose == []


def test_every_option_says_what_it_does():
    """``--help`` explains every option of every command (click prints no text for an option
    without ``help``)."""
    import click

    silent = [f"{name} {p.opts[0]}" for name, cmd in cli.commands.items() for p in cmd.params
              if isinstance(p, click.Option) and not p.help]
    assert silent == []


def test_help_lists_the_ranges():
    result = CliRunner().invoke(cli, ["export-edges", "--help"])
    assert result.exit_code == 0
    assert "0<=x<1" in result.output and "x>=1" in result.output
