"""In-process benchmark of conditional_api against its peers: ``make bench`` or ``python -m bench``.

Every contender serves the example's articles with the same serializer, the
same authentication and permission classes and the same middleware; requests
go through Django's handler in process, so the numbers measure the framework
and the database, not a server or a network. See docs/benchmarks.md.
"""
