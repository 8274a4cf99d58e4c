"""Defaults of the analysis commands, in one light module (no torch import) that the command
line can read without slowing ``lrdgraph --help``."""

#: candidate pairs: items at most this many positions apart in a user's train history
DEFAULT_WINDOW = 3
#: candidate pairs: nearest neighbours of each item in text-feature space
DEFAULT_KNN = 10
#: pairs (or similarity cells) computed at once
DEFAULT_CHUNK = 1_000_000
#: refuse to collect more candidate pairs than this
DEFAULT_MAX_PAIRS = 50_000_000
#: export-edges: keep edges whose weight is above this (a latent edge's weight is q)
DEFAULT_MIN_WEIGHT = 0.2
