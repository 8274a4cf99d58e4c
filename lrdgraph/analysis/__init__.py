"""Analysis of trained runs: edge export, recommendations with reasons, relation reports."""
