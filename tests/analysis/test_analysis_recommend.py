"""``recommend``: known users, ad-hoc histories, explanations, errors and the command line."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from lrdgraph.analysis.recommend import format_recommendations, recommend
from lrdgraph.errors import ConfigError, InputError
from lrdgraph_cli.main import cli


def _user_items(ds, u):
    return {int(i) for s in (ds.train, ds.dev, ds.test) for i in s.item[s.user == u]}


def test_known_user(demo_run, loaded):
    cfg, graph, model = loaded
    ds = graph.dataset
    res = recommend(demo_run, user="U0003", k=7, loaded=loaded)
    u = ds.user_ids.index("U0003")
    seen = {ds.item_ids[i] for i in _user_items(ds, u)}
    recs = res["recommendations"]
    assert [r["rank"] for r in recs] == list(range(1, 8))
    assert not seen & {r["item_id"] for r in recs}
    assert all(r["text"] == ds.item_text[ds.item_ids.index(r["item_id"])] for r in recs)
    scores = [r["score"] for r in recs]
    assert scores == sorted(scores, reverse=True)
    assert res["user_embedding"] == "learned"
    # history: the user's items in time order, the most recent ones
    assert {h["item_id"] for h in res["history"]} <= seen
    rows = sum(int((sp.user == u).sum()) for sp in (ds.train, ds.dev, ds.test))
    assert len(res["history"]) == min(rows, cfg["train"]["history"])
    last = ds.test.item[ds.test.user == u]
    assert res["history"][-1]["item_id"] == ds.item_ids[int(last[0])]  # test item is the latest
    # the scores are the model's for that user and history
    top = recs[0]["item_id"]
    hist = torch.tensor([[ds.item_ids.index(h["item_id"]) for h in res["history"]]])
    b = {"user": torch.tensor([u]), "history": hist, "history_time": torch.zeros_like(hist),
         "time": torch.zeros(1, dtype=torch.long)}
    with torch.no_grad():
        s = model(b, torch.tensor([[ds.item_ids.index(top)]]))
    assert float(s) == pytest.approx(recs[0]["score"], abs=1e-4)
    # no unseen item scores above the k-th recommendation
    cands = torch.tensor([[i for i in range(ds.num_items) if ds.item_ids[i] not in seen]])
    with torch.no_grad():
        all_scores = model(b, cands)[0]
    assert float(all_scores.max()) == pytest.approx(scores[0], abs=1e-4)
    assert int((all_scores > scores[-1] + 1e-4).sum()) < 7


def test_adhoc_history_uses_the_mean_user(demo_run, loaded):
    _, graph, model = loaded
    ids = graph.dataset.item_ids
    res = recommend(demo_run, history=[ids[5], ids[9], ids[5]], k=4, loaded=loaded)
    assert res["user"] is None and res["user_embedding"] == "mean of all users"
    assert [h["item_id"] for h in res["history"]] == [ids[5], ids[9], ids[5]]
    got = {r["item_id"] for r in res["recommendations"]}
    assert len(got) == 4 and not got & {ids[5], ids[9]}
    hist = torch.tensor([[5, 9, 5]])
    b = {"user": torch.zeros(1, dtype=torch.long), "history": hist,
         "history_time": torch.zeros_like(hist), "time": torch.zeros(1, dtype=torch.long),
         "user_vec": model.user_emb.weight.mean(0, keepdim=True)}
    with torch.no_grad():
        s = model(b, torch.arange(graph.num_items).unsqueeze(0))[0]
    s[[5, 9]] = -float("inf")
    assert res["recommendations"][0]["item_id"] == ids[int(s.argmax())]


def test_explain(demo_run, loaded):
    _, graph, model = loaded
    res = recommend(demo_run, user="U0010", k=3, explain=True, reasons=2, loaded=loaded)
    hist = {h["item_id"] for h in res["history"]}
    labels = set(model.layout.relation_names)
    for r in res["recommendations"]:
        assert 1 <= len(r["reasons"]) <= 2
        ws = [w["weight"] for w in r["reasons"]]
        assert ws == sorted(ws, reverse=True) and 0 < sum(ws) <= 1 + 1e-6
        for w in r["reasons"]:
            assert w["history_item"] in hist
            assert len({w["history_item"] for w in r["reasons"]}) == len(r["reasons"])
            assert len(w["relations"]) == 2
            for sl in w["relations"]:
                assert sl["relation"] in labels
                assert sl["source"] in ("virtual", "predefined", "latent")
                assert ("holds" in sl) == (sl["source"] == "predefined")
                assert ("q" in sl) == (sl["source"] == "latent")
                assert sl["weight"] == pytest.approx(sl["attention"] * sl["relation_importance"],
                                                     rel=1e-3, abs=1e-6)
    text = format_recommendations(res)
    assert "<-" in text and "via" in text


def test_explain_says_whether_a_predefined_edge_holds(demo_run, loaded):
    _, graph, _ = loaded
    ds = graph.dataset
    h, t = ds.relations["also_bought"][:, 0]
    res = recommend(demo_run, history=[ds.item_ids[h]], k=ds.num_items - 1, explain=True,
                    reasons=1, slots_per_reason=10, loaded=loaded)
    rec = next(r for r in res["recommendations"] if r["item_id"] == ds.item_ids[t])
    slot = next(s for s in rec["reasons"][0]["relations"] if s["relation"] == "also_bought")
    assert slot["holds"] is True


def test_errors(demo_run, loaded):
    with pytest.raises(InputError, match="unknown user id 'nobody'"):
        recommend(demo_run, user="nobody", loaded=loaded)
    with pytest.raises(InputError, match="'X1', 'X2'"):
        recommend(demo_run, history=["P0001", "X1", "X2"], loaded=loaded)
    with pytest.raises(ConfigError):
        recommend(demo_run, user="U0001", history=["P0001"], loaded=loaded)


def test_cli(demo_run):
    run = CliRunner()
    r = run.invoke(cli, ["recommend", str(demo_run), "--user", "U0001", "-k", "3", "--explain",
                         "--format", "json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert len(res["recommendations"]) == 3 and "reasons" in res["recommendations"][0]
    r = run.invoke(cli, ["recommend", str(demo_run), "--history", "P0001,P0002", "-k", "2"])
    assert r.exit_code == 0 and "ad-hoc history" in r.output and "rank" in r.output
    for args, msg in ((["--user", "nobody"], "unknown user id"),
                      (["--history", "P0001,NOPE"], "unknown item id")):
        r = run.invoke(cli, ["recommend", str(demo_run), *args])
        assert r.exit_code == 2 and msg in r.output
    r = run.invoke(cli, ["recommend", str(demo_run)])
    assert r.exit_code == 2 and "exactly one of --user and --history" in r.output
