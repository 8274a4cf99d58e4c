"""lrdgraph: relation-aware sequential recommendation with latent relations discovered from
item language features.

Heavy dependencies (torch_geometric, sentence_transformers) are imported lazily by the modules
that need them, so ``import lrdgraph`` and ``lrdgraph --help`` stay fast.
"""
__version__ = "0.1.0"

__all__ = ["__version__"]
