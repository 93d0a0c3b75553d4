"""Slugs: the file-system and URL safe names every site path is made of."""

from __future__ import annotations

import hashlib


def slugify(text: str) -> str:
    """A filesystem- and URL-safe key: ``[a-z0-9_-]``; non-ASCII or unsafe names get a short hash suffix."""
    safe = "".join(c if (c.isascii() and (c.isalnum() or c in "_-")) else "_" for c in text.lower()).strip("_")
    if safe != text.lower() or not safe:
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:6]
        safe = f"{safe[:40]}_{digest}" if safe else f"x_{digest}"
    return safe


#: first parts of the site's own data keys (``contract.KINDS``): a dataset may not take one as its slug
RESERVED = frozenset({"datasets", "explorer", "web", "index", "leaderboard", "serve"})


def dataset_slug(name: str) -> str:
    """``slugify``, except that a name taking one of the site's own key prefixes gets a hash suffix (a dataset
    called ``web`` would otherwise share its data keys with the in-browser search's files)."""
    safe = slugify(name)
    if safe in RESERVED:
        safe = f"{safe}_{hashlib.sha1(name.encode('utf-8')).hexdigest()[:6]}"
    return safe
