"""Scoring contract every recommender answers (RCF/KDA and the baselines alike).

Mixed into ``RecommenderCase`` and ``BaselineCase``; the concrete class supplies the ``model``,
``batch`` and ``demo_data`` fixtures.
"""
from __future__ import annotations

import torch


class ScoringContract:
    def test_one_candidate_and_many(self, model, batch):
        one = model(batch, batch["item"].unsqueeze(1))
        many = model(batch, batch["candidates"])
        torch.testing.assert_close(one[:, 0], many[:, 0], atol=1e-5, rtol=1e-5)

    def test_full_scores_equal_candidate_scores(self, model, demo_data):
        """Scoring all items (chunked, as in full ranking) gives the candidate scores."""
        from lrdgraph.train.evaluate import full_rank_tensor
        from lrdgraph.train.metrics import full_ranks

        rows = demo_data.test
        N = demo_data.num_items
        idx = torch.arange(5)
        b = rows.batch(idx, torch.device("cpu"))
        with torch.no_grad():
            full = model(b, torch.arange(N).expand(len(idx), -1))
            cand = torch.cat([b["item"].unsqueeze(1), rows.neg_items[idx]], 1)
            sampled = model(b, cand)
            halves = torch.cat([model(b, torch.arange(0, N // 2).expand(len(idx), -1)),
                                model(b, torch.arange(N // 2, N).expand(len(idx), -1))], 1)
        torch.testing.assert_close(full.gather(1, cand), sampled, atol=1e-5, rtol=0)
        torch.testing.assert_close(halves, full, atol=1e-5, rtol=0)
        # the evaluator's chunked path (tiny chunks) ranks exactly like the one-shot scores
        chunked = full_rank_tensor(model, demo_data, rows.subset(idx), "test", max_pairs=97)
        known = demo_data.known_mask(b["user"], "test", torch.arange(N).expand(len(idx), -1))
        assert chunked.tolist() == full_ranks(full, b["item"], exclude=known).tolist()
