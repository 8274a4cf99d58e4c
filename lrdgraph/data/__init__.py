"""Data set readers. Each returns a :class:`~lrdgraph.data.dataset.Dataset`."""
from .dataset import Attribute, Dataset, Split

__all__ = ["Attribute", "Dataset", "Split"]
