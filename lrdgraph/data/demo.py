"""A small synthetic office-supplies data set with a planted latent structure.

About 300 items (office and home supplies with a brand, a category and a descriptive title)
belong to eight **workflows**: printing, filing, shipping, coffee break, meetings, desk setup,
correspondence and reports. A workflow spans several categories (printing needs a printer, paper
and toner; shipping needs boxes, tape, a scale and labels) and a category may serve several
workflows (paper is in printing, meetings and correspondence), so neither the category nor the
brand attribute gives the workflow away.

Users follow workflows: each has a main workflow and sometimes a second one, walks through the
workflow's product types in order (printer, then paper, then toner, then paper again), keeps to
a favourite brand when it can, and now and then buys something unrelated. The predefined
relations ``also_bought`` (between product types of one workflow) and ``also_viewed`` (within
one product type) are observed for only part of the type pairs and only a few items per item,
plus a little cross-workflow noise, so they cover only part of what users actually do together:
relation discovery from the item text has something real to find. Each item's workflow is kept
as ground truth (``workflow`` column of ``items.csv``, ``report['planted_group']``) and is never
an attribute.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed gives the same data
set, byte for byte. :func:`write_demo` writes it as a generic-CSV data set that
:func:`~lrdgraph.data.csv_reader.read_csv_dataset` reads back into the same
:class:`~lrdgraph.data.dataset.Dataset` with :data:`DEMO_OPTIONS`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pandas as pd

from ..io import atomic_write
from .csv_reader import dataset_from_frames
from .dataset import Dataset

__all__ = ["make_demo", "write_demo", "demo_frames", "DEMO_OPTIONS", "WORKFLOWS"]

#: read_csv_dataset options that read the files written by :func:`write_demo`
DEMO_OPTIONS: Dict[str, object] = {
    "text_cols": ["title", "category", "brand"],
    "attr_cols": ["category", "brand"],
    "group_col": "workflow",
}

# workflow -> product types in the order users need them: (category, [base product titles])
WORKFLOWS: Dict[str, List[Tuple[str, List[str]]]] = {
    "printing": [
        ("Printers", ["Wireless All-in-One Inkjet Printer", "Monochrome Laser Printer",
                      "Color Laser Printer, Duplex"]),
        ("Paper", ["Multipurpose Copy Paper, 8.5 x 11, 500 Sheets",
                   "Premium Laser Paper, 24 lb, 500 Sheets", "Recycled Copy Paper, 5-Ream Case"]),
        ("Ink & Toner", ["High-Yield Black Toner Cartridge", "Standard-Yield Black Toner Cartridge",
                         "Color Toner Cartridges, Cyan/Magenta/Yellow 3-Pack"]),
        ("Ink & Toner", ["Black Ink Cartridge, Twin Pack", "Tri-Color Ink Cartridge"]),
        ("Paper", ["Glossy Photo Paper, 4 x 6, 100 Sheets", "Matte Presentation Paper, 8.5 x 11"]),
    ],
    "filing": [
        ("Filing", ["Manila File Folders, Letter Size, 100 Pack", "Colored File Folders, 1/3-Cut Tabs",
                    "Reinforced Heavy-Duty File Folders"]),
        ("Filing", ["Hanging File Folders, Letter, 25 Pack", "Box-Bottom Hanging Folders, 2-inch"]),
        ("Labels", ["File Folder Labels, White, 1,500 Count", "Color-Coded Filing Labels"]),
        ("Label Makers", ["Handheld Label Maker with QWERTY Keyboard", "Desktop Label Printer, USB"]),
        ("Labels", ["Label Maker Tape, Black on White, 12 mm", "Label Tape Cassettes, 3 Pack"]),
        ("Storage", ["Portable File Box with Lid", "Two-Drawer Lateral Filing Cabinet"]),
    ],
    "shipping": [
        ("Packaging", ["Corrugated Shipping Boxes, 12 x 9 x 6, 25 Pack", "Small Moving Boxes, 10 Pack"]),
        ("Packaging", ["Padded Bubble Mailers, 6 x 10, 50 Pack", "Self-Seal Poly Mailers, 100 Pack"]),
        ("Tape", ["Heavy-Duty Packing Tape, 6 Rolls", "Clear Shipping Tape Refills, 2 Rolls"]),
        ("Tape", ["Packing Tape Gun Dispenser"]),
        ("Scales", ["Digital Postal Scale, 50 lb", "Compact Shipping Scale with Tare"]),
        ("Labels", ["Shipping Labels, 2 per Sheet, 200 Labels", "Thermal Shipping Labels, 4 x 6 Roll"]),
    ],
    "coffee": [
        ("Breakroom Appliances", ["Single-Serve Coffee Maker", "12-Cup Programmable Coffee Maker"]),
        ("Beverages", ["Medium Roast Coffee Pods, 48 Count", "Dark Roast Ground Coffee, 2 lb"]),
        ("Breakroom Supplies", ["Insulated Paper Hot Cups, 12 oz, 100 Pack",
                                "Hot Cup Lids, 100 Pack"]),
        ("Beverages", ["Coffee Creamer Singles, 180 Count", "Sugar Packets, 500 Count"]),
        ("Breakroom Supplies", ["Wooden Stir Sticks, 1,000 Count", "Dinner Napkins, 500 Pack"]),
    ],
    "meetings": [
        ("Boards", ["Magnetic Dry-Erase Whiteboard, 36 x 24", "Mobile Whiteboard Easel"]),
        ("Writing", ["Dry-Erase Markers, Chisel Tip, 12 Colors", "Low-Odor Dry-Erase Markers, 4 Pack"]),
        ("Boards", ["Magnetic Whiteboard Eraser", "Whiteboard Cleaning Spray"]),
        ("Paper", ["Self-Stick Easel Pad, 25 x 30, 30 Sheets"]),
        ("Electronics", ["Portable 1080p Projector", "Wireless Presenter with Laser Pointer"]),
    ],
    "desk": [
        ("Furniture", ["Ergonomic Mesh Office Chair", "High-Back Executive Chair"]),
        ("Desk Accessories", ["Adjustable Monitor Riser", "Dual Monitor Arm"]),
        ("Electronics", ["Wireless Keyboard and Mouse Combo", "Ergonomic Vertical Mouse"]),
        ("Desk Accessories", ["Gel Keyboard Wrist Rest", "Memory Foam Mouse Pad"]),
        ("Lighting", ["LED Desk Lamp with USB Charging Port"]),
        ("Furniture", ["Adjustable Under-Desk Footrest"]),
    ],
    "correspondence": [
        ("Paper", ["#10 Security Envelopes, 500 Count", "Catalog Envelopes, 9 x 12, 100 Pack"]),
        ("Writing", ["Retractable Gel Pens, Black, 12 Pack", "Ballpoint Pens, Medium Point, 60 Pack"]),
        ("Paper", ["Cotton Letterhead Paper, 24 lb", "Blank Note Cards with Envelopes"]),
        ("Desk Accessories", ["Stainless Steel Letter Opener", "Envelope Moistener"]),
        ("Labels", ["Return Address Labels, 750 Count"]),
    ],
    "reports": [
        ("Binders", ["3-Ring View Binder, 1-inch", "Heavy-Duty D-Ring Binder, 3-inch"]),
        ("Binders", ["Clear Sheet Protectors, 100 Pack", "Tab Dividers, 8-Tab, Multicolor"]),
        ("Desk Accessories", ["3-Hole Punch, 20-Sheet Capacity", "Electric 3-Hole Punch"]),
        ("Desk Accessories", ["Desktop Stapler, 25-Sheet Capacity", "Standard Staples, 5,000 Count"]),
        ("Presentation", ["Clear Report Covers with Slide Bars", "Comb Binding Machine"]),
    ],
}

# brand -> categories it makes (the house brands make everything)
BRANDS: Dict[str, List[str]] = {
    "Inkora": ["Printers", "Ink & Toner", "Paper"],
    "Halden": ["Printers", "Electronics", "Scales", "Label Makers"],
    "Stackwell": ["Filing", "Storage", "Binders", "Presentation"],
    "Boxwell": ["Packaging", "Tape", "Scales", "Labels"],
    "Brewline": ["Breakroom Appliances", "Beverages", "Breakroom Supplies"],
    "Clearboard": ["Boards", "Writing", "Presentation"],
    "Ergonest": ["Furniture", "Desk Accessories", "Lighting"],
    "Quillon": ["Writing", "Paper", "Labels"],
    "Kestrel Office": ["*"],
    "Northmark": ["*"],
    "Ridgeline Basics": ["*"],
}
COLORS = ["Black", "Blue", "Gray", "White", "Red", "Green"]
START = 1_609_459_200  # 2021-01-01 00:00:00 UTC
DAY = 86_400


def demo_frames(seed: int = 0, num_users: int = 600
                ) -> Tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The demo's three tables (interactions, items, relations), every cell a string."""
    rng = np.random.default_rng(seed)
    items = _catalogue(rng)
    n = len(items)
    wf_names = list(WORKFLOWS)
    wf_of = np.array([wf_names.index(w) for w in items["workflow"]])
    type_of = items["type"].to_numpy()
    brand_of = items["brand"].to_numpy()
    pop = rng.pareto(1.5, size=n) + 1.0  # item appeal, heavy-tailed
    by_type: Dict[int, np.ndarray] = {t: np.flatnonzero(type_of == t) for t in np.unique(type_of)}
    types_of_wf = [sorted({int(t) for t in type_of[wf_of == w]}) for w in range(len(wf_names))]

    def pick(cands: np.ndarray) -> int:  # popularity-weighted draw
        cdf = np.cumsum(pop[cands])
        return int(cands[min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")),
                             len(cands) - 1)])

    ids = items["item"].to_numpy()
    users, its, times = [], [], []
    wf_weight = rng.dirichlet(np.full(len(wf_names), 4.0))
    for u in range(num_users):
        main = int(rng.choice(len(wf_names), p=wf_weight))
        flows = [main]
        if rng.random() < 0.4:
            flows.append(int(rng.choice([w for w in range(len(wf_names)) if w != main])))
        fav = rng.choice(list(BRANDS))
        length = 5 + min(int(rng.geometric(1 / 7)), 25)
        t = START + int(rng.integers(0, 300 * DAY))
        cur = flows[0]
        stage = int(rng.integers(0, 2))
        for _ in range(length):
            if len(flows) > 1 and rng.random() < 0.2:
                cur = flows[1] if cur == flows[0] else flows[0]
                stage = int(rng.integers(0, 2))
            if rng.random() < 0.08:  # an unrelated purchase
                i = pick(np.arange(n))
            else:
                tl = types_of_wf[cur]
                cands = by_type[tl[stage % len(tl)]]
                own = cands[brand_of[cands] == fav]
                i = pick(own) if len(own) and rng.random() < 0.5 else pick(cands)
                r = rng.random()  # next type (60%), the same again (20%), or a jump (20%)
                if r >= 0.8:
                    stage = int(rng.integers(0, len(tl)))
                elif r < 0.6:
                    stage += 1
            users.append(f"U{u + 1:04d}")
            its.append(ids[i])
            times.append(t)
            t += int(rng.exponential(4 * DAY)) + 60
    inter = pd.DataFrame({"user": users, "item": its, "timestamp": times})
    inter = inter.sort_values(["timestamp", "user"], kind="stable").reset_index(drop=True)
    relations = _relations(rng, items, wf_of, pop, by_type, types_of_wf)
    out_items = items[["item", "title", "category", "brand", "workflow"]]
    return (inter.astype(str), out_items.astype(str), relations.astype(str))


def _catalogue(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    type_id = 0
    for wf, types in WORKFLOWS.items():
        for category, bases in types:
            makers = [b for b, cats in BRANDS.items() if category in cats or "*" in cats]
            for base in bases:
                k = int(rng.integers(3, 5))
                for brand in rng.choice(makers, size=min(k, len(makers)), replace=False):
                    title = f"{brand} {base}"
                    if rng.random() < 0.35 and "Pack" not in base and "Count" not in base:
                        title += f", {COLORS[int(rng.integers(len(COLORS)))]}"
                    rows.append({"title": title, "category": category, "brand": str(brand),
                                 "workflow": wf, "type": type_id})
            type_id += 1
    df = pd.DataFrame(rows).drop_duplicates("title").reset_index(drop=True)
    # some items lack a brand (generic products) or a category (incomplete listings)
    no_brand = rng.random(len(df)) < 0.08
    df.loc[no_brand, "title"] = ["Generic " + t[len(b) + 1:] for t, b in
                                 zip(df.loc[no_brand, "title"], df.loc[no_brand, "brand"])]
    df.loc[no_brand, "brand"] = ""
    df.loc[rng.random(len(df)) < 0.03, "category"] = ""
    df = df.drop_duplicates("title").reset_index(drop=True)
    df = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    df.insert(0, "item", [f"P{k + 1:04d}" for k in range(len(df))])
    return df


def _relations(rng: np.random.Generator, items: pd.DataFrame, wf_of: np.ndarray, pop: np.ndarray,
               by_type: Dict[int, np.ndarray], types_of_wf: List[List[int]]) -> pd.DataFrame:
    ids = items["item"].to_numpy()
    rows: List[Tuple[str, str, str]] = []

    def link(src: np.ndarray, dst: np.ndarray, rel: str, per_item: int) -> None:
        p = pop[dst] / pop[dst].sum()
        for i in src:
            k = min(per_item, len(dst))
            for j in rng.choice(dst, size=k, replace=False, p=p):
                if j != i:
                    rows.append((ids[i], rel, ids[j]))

    for tl in types_of_wf:
        for a in range(len(tl)):
            for b in range(len(tl)):
                # also_bought: only some type pairs of a workflow were ever observed together
                if a != b and rng.random() < 0.5:
                    link(by_type[tl[a]], by_type[tl[b]], "also_bought", 3)
            if rng.random() < 0.6:  # also_viewed: substitutes within a product type
                link(by_type[tl[a]], by_type[tl[a]], "also_viewed", 2)
    n = len(ids)
    for _ in range(n // 8):  # cross-workflow noise
        i, j = rng.integers(0, n, size=2)
        if wf_of[i] != wf_of[j]:
            rows.append((ids[i], "also_bought", ids[j]))
    return pd.DataFrame(rows, columns=["head", "relation", "tail"]).drop_duplicates()


def make_demo(seed: int = 0, num_users: int = 600) -> Dataset:
    """The demo data set in memory (equal to reading :func:`write_demo`'s files back with
    :data:`DEMO_OPTIONS`); ``report['planted_group']`` holds each item's workflow."""
    inter, items, rel = demo_frames(seed, num_users)
    return dataset_from_frames(inter, items, rel, seed=seed, name="demo",
                               report={"format": "demo", "generator_seed": int(seed),
                                       "num_users_generated": int(num_users)},
                               **DEMO_OPTIONS)  # type: ignore[arg-type]


def write_demo(out_dir: str | Path, seed: int = 0, num_users: int = 600) -> Path:
    """Write ``interactions.csv``, ``items.csv`` and ``relations.csv`` (comma-separated, UTF-8)
    into ``out_dir`` (created if needed; each file written atomically). Returns ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for fname, df in zip(("interactions.csv", "items.csv", "relations.csv"),
                         demo_frames(seed, num_users)):
        with atomic_write(out / fname) as fh:
            df.to_csv(fh, index=False, lineterminator="\n")
    return out
