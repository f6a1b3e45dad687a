"""ETag-aware Django and DRF endpoints that answer "has this changed?" from one tiny query.

Names are imported on first use, so that ``import conditional_api`` works
before Django's app registry is ready (the models module needs it).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "VersionedModel": "models",
    "VersionedQuerySet": "models",
    "VersionedManager": "models",
    "VersionField": "models",
    "UpdatedAtField": "models",
    "claim_state": "models",
    "Validator": "validators",
    "Variant": "validators",
    "ValidatorStrategy": "validators",
    "ModelStrategy": "strategies",
    "VersionStrategy": "strategies",
    "UpdatedAtStrategy": "strategies",
    "ContentStrategy": "strategies",
    "CollectionStrategy": "strategies",
    "make_etag": "validators",
    "Decision": "preconditions",
    "Outcome": "preconditions",
    "evaluate": "preconditions",
    "conditional": "decorators",
    "ViewOptions": "conf",
    "view_options": "conf",
}

__all__ = [
    "CollectionStrategy",
    "ContentStrategy",
    "Decision",
    "ModelStrategy",
    "Outcome",
    "UpdatedAtField",
    "UpdatedAtStrategy",
    "Validator",
    "ValidatorStrategy",
    "Variant",
    "VersionField",
    "VersionStrategy",
    "VersionedManager",
    "VersionedModel",
    "VersionedQuerySet",
    "ViewOptions",
    "claim_state",
    "conditional",
    "evaluate",
    "make_etag",
    "view_options",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:
    from .conf import ViewOptions, view_options
    from .decorators import conditional
    from .models import UpdatedAtField, VersionedManager, VersionedModel, VersionedQuerySet, VersionField, claim_state
    from .preconditions import Decision, Outcome, evaluate
    from .strategies import CollectionStrategy, ContentStrategy, ModelStrategy, UpdatedAtStrategy, VersionStrategy
    from .validators import Validator, ValidatorStrategy, Variant, make_etag
