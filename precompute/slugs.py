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
