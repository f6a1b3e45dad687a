"""Where a CDN purge goes: the surrogate keys each commit invalidated, logged here."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def log_purge(keys: tuple[str, ...], using: str, **kwargs: Any) -> None:
    """Stands in for a purge call: Fastly takes these keys, Cloudflare these tags, Varnish's xkey.purge() these keys."""
    logger.info("purge %s", " ".join(keys))
