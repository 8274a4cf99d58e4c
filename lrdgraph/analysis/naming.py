"""Short names and one-line descriptions for latent relations, from their top item pairs.

Two namers, one interface (``slot -> {'name', 'label', 'description'}``):

* ``chat``: an OpenAI-compatible chat model (the ``openai`` client; ``base_url`` points it at
  any compatible server such as vLLM or Ollama; the key comes from ``OPENAI_API_KEY`` only and
  is never written anywhere) reads each latent relation's top pairs and answers with JSON
  ``{"name": ..., "description": ...}``.
* ``tfidf``: offline. Each latent relation becomes one document made of its top pairs' texts,
  with the words that *both* items of a pair share counted three times; TF-IDF across the latent
  relations (each relation against the others) picks the most distinctive terms, and the name
  joins the top three.

``auto`` uses the chat model when a server is configured (``base_url`` or ``OPENAI_API_KEY``)
and falls back to TF-IDF, with a warning, when that fails.
"""
from __future__ import annotations

import json
import os
import re
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..errors import ConfigError, ServiceError
from .trained import slugify

__all__ = ["name_relations", "tfidf_names", "chat_names", "NAMING_METHODS", "DEFAULT_CHAT_MODEL"]

NAMING_METHODS = ("auto", "chat", "tfidf")
DEFAULT_CHAT_MODEL = "gpt-4o-mini"
_WORD = re.compile(r"[a-z][a-z0-9\-]{2,}")
_STOP = {"category", "brand", "pack", "the", "and", "with", "for", "generic", "inch", "sheets",
         "count", "size", "black", "blue", "gray", "grey", "white", "red", "green"}

Pairs = Dict[str, List[Dict[str, Any]]]  # slot -> [{'head_text', 'tail_text', 'q'}, ...]


def _words(text: str) -> set:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def tfidf_names(pairs: Pairs, *, terms: int = 3) -> Dict[str, Dict[str, str]]:
    """Name each slot from the terms its pairs share most distinctively (see the module
    docstring)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    slots = list(pairs)
    docs = []
    for s in slots:
        words: List[str] = []
        for p in pairs[s]:
            a, b = _words(p["head_text"]), _words(p["tail_text"])
            words += sorted(a | b) + 2 * sorted(a & b)
        docs.append(" ".join(words))
    out: Dict[str, Dict[str, str]] = {}
    if not any(docs):
        return {s: {"name": s, "description": "no pairs to name it from"} for s in slots}
    vec = TfidfVectorizer(token_pattern=r"\S+", sublinear_tf=True)
    X = vec.fit_transform(docs).toarray()
    vocab = vec.get_feature_names_out()
    for k, s in enumerate(slots):
        order = [int(i) for i in X[k].argsort()[::-1] if X[k, i] > 0][:terms]
        top = [str(vocab[i]) for i in order]
        if not top:
            out[s] = {"name": s, "description": "no distinctive terms in its top pairs"}
            continue
        out[s] = {"name": " / ".join(top),
                  "description": f"top pairs most distinctively about: {', '.join(top)} "
                                 f"(TF-IDF over {len(pairs[s])} pairs)"}
    return out


def _clip(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


PROMPT = """These item pairs are the strongest examples of one relation that a recommender \
discovered between products (first item -> second item, bought or viewed in that order):

{pairs}

Give the relation a short name (at most four words) and a one-line description.
Answer with JSON only: {{"name": "...", "description": "..."}}"""


def _parse_json(content: str) -> Dict[str, str]:
    m = re.search(r"\{.*\}", content or "", flags=re.S)
    if not m:
        raise ValueError("no JSON object in the answer")
    data = json.loads(m.group(0))
    name = str(data.get("name", "")).strip()
    if not name:
        raise ValueError("the answer has no 'name'")
    return {"name": name[:80], "description": str(data.get("description", "")).strip()[:300]}


def chat_names(pairs: Pairs, *, base_url: Optional[str] = None,
               chat_model: str = DEFAULT_CHAT_MODEL, timeout: float = 60.0,
               max_pairs: int = 10, client: Any = None) -> Dict[str, Dict[str, str]]:
    """Ask a chat model to name each slot; raise :class:`ServiceError` if it cannot."""
    if client is None:
        from openai import OpenAI

        key = os.environ.get("OPENAI_API_KEY")
        if not key and not base_url:
            raise ConfigError("naming with a chat model needs OPENAI_API_KEY or --base-url")
        client = OpenAI(api_key=key or "not-needed", base_url=base_url, timeout=timeout,
                        max_retries=2)
    out = {}
    for slot, ps in pairs.items():
        lines = "\n".join(f"- {_clip(p['head_text'], 120)} -> {_clip(p['tail_text'], 120)}"
                          for p in ps[:max_pairs])
        try:
            resp = client.chat.completions.create(
                model=chat_model, temperature=0,
                messages=[{"role": "system", "content": "You name relations between products "
                           "concisely. You answer with JSON only."},
                          {"role": "user", "content": PROMPT.format(pairs=lines)}])
            content = resp.choices[0].message.content
        except Exception as exc:  # network, auth, server errors: all end naming by chat
            msg = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise ServiceError(f"chat naming failed for {slot}: {type(exc).__name__}: {msg}")
        try:
            out[slot] = _parse_json(content)
        except ValueError as exc:
            raise ServiceError(f"chat naming for {slot}: {exc}; answer was {_clip(str(content), 120)!r}")
    return out


def _with_labels(names: Dict[str, Dict[str, str]], reserved: Sequence[str]) -> Dict[str, Dict[str, str]]:
    """Add a unique ``label`` (slug of the name) to each entry, never one of ``reserved``."""
    taken = set(reserved)
    for slot, entry in names.items():
        base = slugify(entry.get("name", "")) or slot
        label = base
        if label in taken:
            label = f"{base}_{slot}"
        taken.add(label)
        entry["label"] = label
    return names


def name_relations(pairs: Pairs, *, method: str = "auto", base_url: Optional[str] = None,
                   chat_model: str = DEFAULT_CHAT_MODEL, reserved: Sequence[str] = (),
                   warn: Callable[[str], None] = lambda m: None
                   ) -> tuple[Dict[str, Dict[str, str]], Dict[str, Any]]:
    """``(names, method description)``: names with labels for each slot of ``pairs``."""
    if method not in NAMING_METHODS:
        raise ConfigError(f"naming method must be one of {', '.join(NAMING_METHODS)}")
    use_chat = method == "chat" or (method == "auto" and (base_url or os.environ.get("OPENAI_API_KEY")))
    if use_chat:
        try:
            names = chat_names(pairs, base_url=base_url, chat_model=chat_model)
            desc: Dict[str, Any] = {"method": "chat", "chat_model": chat_model}
            if base_url:
                desc["base_url"] = base_url
            return _with_labels(names, reserved), desc
        except (ServiceError, ConfigError) as exc:
            if method == "chat":
                raise
            warn(f"{exc}; naming from TF-IDF terms instead")
    return _with_labels(tfidf_names(pairs), reserved), {"method": "tfidf"}
