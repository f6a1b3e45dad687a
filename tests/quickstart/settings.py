CONDITIONAL_API = {
    # Change it when a deploy changes a representation's shape: every ETag changes with it.
    "RELEASE": "2026.12.1",
    # Keyed by URL name: the router names the viewset's routes entry-list and entry-detail.
    "VIEWS": {
        "entry-detail": {"require_precondition": True},
        "entry-list": {"strategy": "collection"},
        "plain-entry-detail": {"strategy": "version"},
    },
}
