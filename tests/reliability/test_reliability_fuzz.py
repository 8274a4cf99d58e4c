"""Property-based fuzzing of every reader: malformed files end in a valid data set or in one
InputError line naming the file (and, where it applies, the line and field) - never another
exception, never code execution, never a partial output directory."""
from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrdgraph.data.csv_reader import read_csv_dataset
from lrdgraph.data.movielens import read_movielens
from lrdgraph.data.rechorus import read_rechorus
from lrdgraph.errors import LrdError

COUNTS = {"rechorus": 0, "csv": 0, "csv_valid": 0, "rechorus_valid": 0, "ml-100k": 0,
          "ml-100k_valid": 0, "cli": 0}
MARKER = "lrdgraph_fuzz_pwned"

# cells a hostile or sloppy export may contain
cell = st.one_of(
    st.integers(min_value=-5, max_value=40).map(str),
    st.sampled_from(["", " ", "NaN", "1.5", "1e3", "abc", "-1", str(2**70), "9" * 30,
                     "[1, 2]", "[", "[1, 'a']", "None", "__import__('os').system('touch "
                     + MARKER + "')", "[__import__('os')]", "{'a': 1}", "[[1]]", "[1,,2]",
                     "\u00e9t\u00e9", "x\ty"]),
    st.text(max_size=6),
)
list_cell = st.one_of(
    st.lists(st.integers(min_value=-3, max_value=40), max_size=5).map(json.dumps),
    cell,
)


def _rows(draw, ncols, cellgen, nrows):
    return [[draw(cellgen) for _ in range(draw(st.integers(ncols - 1, ncols + 1)))]
            for _ in range(nrows)]


@st.composite
def table(draw, header, cellgen=cell, min_rows=0, max_rows=12, valid_bias=True):
    """A tab-separated table: mostly well-formed integer rows, with damage injected."""
    n = draw(st.integers(min_rows, max_rows))
    rows = []
    for _ in range(n):
        if valid_bias and draw(st.booleans()):
            rows.append([str(draw(st.integers(1, 12))) for _ in header])
        else:
            rows.append([draw(cellgen) for _ in range(draw(st.integers(len(header) - 1, len(header) + 1)))])
    text = "\t".join(header) + "\n" + "".join("\t".join(r) + "\n" for r in rows)
    damage = draw(st.sampled_from(["none", "none", "truncate", "bytes", "empty", "dup"]))
    data = text.encode("utf-8")
    if damage == "truncate" and len(data) > 5:
        data = data[: draw(st.integers(1, len(data) - 1))]
    elif damage == "bytes":
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + b"\xff\xfe\x80" + data[pos:]
    elif damage == "empty":
        data = b""
    elif damage == "dup" and rows:
        data += ("\t".join(rows[0]) + "\n").encode()
    return data


def _check_error(exc: LrdError, tmp: Path) -> None:
    msg = str(exc)
    assert "\n" not in msg, msg
    assert exc.path is not None and str(tmp) in exc.path or "data set" in msg, msg


def _read_or_error(kind: str, read, tmp: Path) -> None:
    """Run one reader call: it returns a valid data set or raises one clean LrdError line;
    count the case and whether it was valid, and check that no injected code ran."""
    COUNTS[kind] += 1
    try:
        ds = read()
    except LrdError as exc:
        _check_error(exc, tmp)
    else:
        ds.validate()
        COUNTS[f"{kind}_valid"] += 1
    _no_marker(tmp)


def _no_marker(tmp: Path) -> None:
    assert not (tmp / MARKER).exists() and not Path(MARKER).exists()


FUZZ = settings(max_examples=int(os.environ.get("LRDGRAPH_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def rechorus_dir(draw):
    """A valid ReChorus directory with a few cells damaged at random."""
    n_users = draw(st.integers(1, 4))
    files = {"train": [["user_id", "item_id", "time"]],
             "dev": [["user_id", "item_id", "time", "neg_items"]],
             "test": [["user_id", "item_id", "time", "neg_items"]],
             "item_meta": [["item_id", "i_category", "r_complement"]]}
    for u in range(1, n_users + 1):
        for k in range(draw(st.integers(1, 4))):
            files["train"].append([str(u), str(draw(st.integers(1, 9))), str(100 + k)])
        for s in ("dev", "test"):
            files[s].append([str(u), str(draw(st.integers(1, 9))), "200",
                             json.dumps(draw(st.lists(st.integers(1, 9), min_size=3, max_size=3)))])
    for i in range(1, 10):
        files["item_meta"].append([str(i), str(draw(st.integers(0, 3))),
                                   json.dumps(draw(st.lists(st.integers(1, 12), max_size=3)))])
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(sorted(files)))
        rows = files[name]
        if len(rows) > 1:
            r = draw(st.integers(1, len(rows) - 1))
            c = draw(st.integers(0, len(rows[r]) - 1))
            rows[r][c] = draw(list_cell)
    return {k: ("".join("\t".join(r) + "\n" for r in v)).encode() for k, v in files.items()}


@FUZZ
@given(files=rechorus_dir())
def test_rechorus_reader_fuzz_mostly_valid(tmp_path_factory, files):
    tmp = tmp_path_factory.mktemp("rcv")
    for name, data in files.items():
        (tmp / f"{name}.csv").write_bytes(data)
    _read_or_error("rechorus", lambda: read_rechorus(tmp), tmp)


@FUZZ
@given(train=table(["user_id", "item_id", "time"], min_rows=1),
       dev=table(["user_id", "item_id", "time", "neg_items"], cellgen=list_cell),
       test=table(["user_id", "item_id", "time", "neg_items"], cellgen=list_cell),
       meta=st.one_of(st.none(), table(["item_id", "i_category", "r_complement"], cellgen=list_cell)))
def test_rechorus_reader_fuzz(tmp_path_factory, train, dev, test, meta):
    tmp = tmp_path_factory.mktemp("rc")
    for name, data in (("train", train), ("dev", dev), ("test", test), ("item_meta", meta)):
        if data is not None:
            (tmp / f"{name}.csv").write_bytes(data)
    cwd = os.getcwd()
    os.chdir(tmp)  # code in a cell would write its marker here
    try:
        _read_or_error("rechorus", lambda: read_rechorus(tmp), tmp)
    finally:
        os.chdir(cwd)


@st.composite
def interactions(draw):
    """A valid interactions table (users with >= 3 rows) with a few cells damaged at random."""
    n_users = draw(st.integers(1, 5))
    rows = []
    for u in range(1, n_users + 1):
        for k in range(draw(st.integers(3, 6))):
            rows.append([str(u), str(draw(st.integers(1, 15))), str(1000 + 10 * k)])
    for _ in range(draw(st.integers(0, 3))):
        r = draw(st.integers(0, len(rows) - 1))
        c = draw(st.integers(0, 2))
        rows[r][c] = draw(cell)
    if draw(st.booleans()) and rows:
        rows.append(rows[0][: draw(st.integers(0, 2))])  # a short (truncated) row
    text = "user\titem\ttimestamp\n" + "".join("\t".join(r) + "\n" for r in rows)
    data = text.encode()
    if draw(st.integers(0, 5)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data


@FUZZ
@given(inter=st.one_of(interactions(), interactions(), table(["user", "item", "timestamp"], min_rows=1, max_rows=30)),
       items=st.one_of(st.none(), table(["item", "title", "category"])),
       rels=st.one_of(st.none(), table(["head", "relation", "tail"])))
def test_csv_reader_fuzz(tmp_path_factory, inter, items, rels):
    tmp = tmp_path_factory.mktemp("csv")
    (tmp / "interactions.csv").write_bytes(inter)
    kw = {}
    if items is not None:
        (tmp / "items.csv").write_bytes(items)
        kw["items"] = tmp / "items.csv"
        kw["attr_cols"] = ["category"]
    if rels is not None:
        (tmp / "relations.csv").write_bytes(rels)
        kw["relations"] = tmp / "relations.csv"
    _read_or_error("csv", lambda: read_csv_dataset(tmp / "interactions.csv", n_neg=3, **kw), tmp)


@st.composite
def movielens_dir(draw):
    """A small valid MovieLens 100K directory (u.data, u.item in Latin-1, u.genre) with a few
    fields damaged at random, or a file cut short."""
    genres = [["unknown", "0"], ["Action", "1"], ["Comedy", "2"]]
    n_items = draw(st.integers(3, 8))
    items = [[str(i), f"Movie {i} (199{i % 10})", draw(st.sampled_from(["01-Jan-1995", ""])), "",
              "http://x", *[draw(st.sampled_from("01")) for _ in genres]]
             for i in range(1, n_items + 1)]
    data = []
    for u in range(1, draw(st.integers(1, 4)) + 1):
        for k in range(draw(st.integers(3, 5))):
            data.append([str(u), str(draw(st.integers(1, n_items))), "4", str(1000 + 10 * k)])
    files = {"u.data": (data, "\t"), "u.item": (items, "|"), "u.genre": (genres, "|")}
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        rows, _ = files[draw(st.sampled_from(sorted(files)))]
        r = draw(st.integers(0, len(rows) - 1))
        how = draw(st.sampled_from(["cell", "cell", "short", "long"]))
        if how == "cell" and rows[r]:
            rows[r][draw(st.integers(0, len(rows[r]) - 1))] = draw(cell)
        elif how == "short" and rows[r]:
            rows[r] = rows[r][: draw(st.integers(0, len(rows[r]) - 1))]
        else:
            rows[r] = rows[r] + [draw(cell)]
    out = {}
    for name, (rows, sep) in files.items():
        text = "".join(sep.join(r) + "\n" for r in rows)
        raw = text.encode("latin-1", errors="replace") if name == "u.item" else text.encode()
        if draw(st.integers(0, 11)) == 0:
            raw = raw[: draw(st.integers(0, len(raw)))]
        out[name] = raw
    return out


@FUZZ
@given(files=movielens_dir(), k_core=st.sampled_from([0, 0, 0, 2]))
def test_movielens_reader_fuzz(tmp_path_factory, files, k_core):
    tmp = tmp_path_factory.mktemp("ml")
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    _read_or_error("ml-100k", lambda: read_movielens(tmp, k_core=k_core, n_neg=3), tmp)


def test_cli_bad_input_leaves_no_output(tmp_path):
    """build-graph on broken input: exit 2, one line on stderr, no output directory at all."""
    from click.testing import CliRunner

    from lrdgraph_cli.main import cli

    cases = {
        "non-numeric time": "user\titem\ttimestamp\n1\t2\tyesterday\n",
        "wrong columns": "u\ti\tt\n1\t2\t3\n",
        "empty": "",
        "bad utf-8": "user\titem\ttimestamp\n1\t2\t3\n".encode() + b"\xff\n",
    }
    runner = CliRunner()
    for name, content in cases.items():
        d = tmp_path / name.replace(" ", "_")
        d.mkdir()
        f = d / "interactions.csv"
        f.write_bytes(content if isinstance(content, bytes) else content.encode())
        out = tmp_path / f"out_{d.name}"
        res = runner.invoke(cli, ["build-graph", "--dataset", "csv", "--interactions", str(f),
                                  "--encoder", "tfidf", "--out", str(out), "--quiet"])
        COUNTS["cli"] += 1
        assert res.exit_code == 2, (name, res.output)
        err_lines = [line for line in res.output.strip().splitlines() if line.strip()]
        assert len(err_lines) == 1 and err_lines[0].startswith("lrdgraph: error:"), res.output
        assert str(f) in err_lines[0], err_lines[0]
        assert "Traceback" not in res.output
        assert not out.exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".out_{d.name}")]


def test_report_counts(capsys):
    """Print how many fuzz cases ran (docs/reliability.md quotes these)."""
    with capsys.disabled():
        print(f"\nfuzz cases: {json.dumps(COUNTS)}")
    assert COUNTS["rechorus"] == 0 or COUNTS["rechorus"] >= 10
    assert COUNTS["ml-100k"] == 0 or COUNTS["ml-100k"] >= 10
