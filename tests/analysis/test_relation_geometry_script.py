"""benchmarks/relation_geometry.py on the analysis tests' trained demo run."""
from __future__ import annotations

import torch


def test_table_matches_the_checkpoint(demo_run, loaded, benchmark_script):
    mod = benchmark_script("relation_geometry")
    out = mod.geometry(demo_run, "best", None)
    _, _, model = loaded
    w = model.relation_emb.weight.detach()
    names = model.layout.relation_names
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| slot")]
    assert [r.split(" | ")[0][2:] for r in rows] == names
    cos = torch.nn.functional.normalize(w, dim=1) @ torch.nn.functional.normalize(w, dim=1).t()
    for i, row in enumerate(rows):
        cells = row.strip("| ").split(" | ")
        assert float(cells[1]) == round(float(w[i].norm()), 2)
        assert [float(c) for c in cells[2:]] == [round(float(c), 2) for c in cos[i]]
    assert "predefined pairs: cosine" in out


def test_decay_summary_of_a_kda_state(benchmark_script):
    """KDA checkpoints also get the slots' time-gap decay: means over τ in [0, 25] and the
    cosine range among latent slots. F = 2 frequencies (f = 0, 1/2): D(τ) = clamp((a0 + a1
    cos πτ - b1 sin πτ) / 4, 0, 1)."""
    from lrdgraph.models.layout import EntityLayout

    mod = benchmark_script("relation_geometry")
    layout = EntityLayout(num_items=3, item_relations=["also_bought"], attributes=[],
                          attribute_sizes=[], num_latent=2)
    assert layout.relation_names == ["any", "also_bought", "latent_0", "latent_1"]
    state = {"freq_real": torch.tensor([[2.0, 0.0], [-1.0, 0.0], [2.0, 0.0], [2.0, 2.0]]),
             "freq_imag": torch.zeros(4, 2)}
    out = mod.decay_summary(state, layout)
    # any and latent_0: constant 0.5; also_bought: clamped to 0; latent_1: (2 + 2 cos πτ) / 4,
    # whose mean over the 251 points τ = 0, 0.1, ..., 25 is 0.5 + cos-sum / 502
    curve1 = 0.5 + 0.5 * torch.cos(torch.pi * torch.linspace(0, 25, 251))
    mean1 = float(curve1.mean())
    assert f"any 0.500, also_bought 0.000, latent_0 0.500, latent_1 {mean1:.3f}" in out
    # cosine of a constant curve with 0.5 + 0.5 cos πτ: mean / rms of the latter
    c = float(curve1.sum() / (251 ** 0.5 * curve1.norm()))
    assert f"pairwise cosine {c:.2f} to {c:.2f}" in out
