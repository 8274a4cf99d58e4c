"""The item graph (PyG ``HeteroData``) and the relation index."""
from .item_graph import ItemGraph, load_graph, relation_names, save_graph

__all__ = ["ItemGraph", "load_graph", "save_graph", "relation_names", "build_graph",
           "RelationIndex"]


def __getattr__(name):  # lazy: keep torch out of light imports
    if name == "build_graph":
        from .build import build_graph
        return build_graph
    if name == "RelationIndex":
        from .relation_index import RelationIndex
        return RelationIndex
    raise AttributeError(name)
