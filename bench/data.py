"""The benchmark's data set: the example's models, grown in place from one size to the next.

Deterministic (no randomness), so every run and every database serves the
same rows: article ``i`` is published when ``i`` is even, has ``(i // 2) % 4``
tags (published articles get 0, 1, 2 and 3 in turn) and a body of one to four
short paragraphs. Authors scale as one per ten articles, tags as one per
hundred (at least ten). Growing 1,000 rows to 100,000 adds rows instead of
reseeding, so the second size costs only the rows it adds.
"""

from __future__ import annotations

from django.db import connection, transaction

from example_project.blog.models import Article, Author, Tag

__all__ = ["DETAIL_ARTICLE", "analyze", "grow_to", "published_id_at"]

BATCH = 2000
#: The article every detail request asks for: published, with tags, present at every size.
DETAIL_ARTICLE = 500
PARAGRAPH = (
    "Conditional requests let a client that already holds a representation ask whether it changed, "
    "and the server answer with no body when it did not."
)


def author_count(articles: int) -> int:
    return max(1, articles // 10)


def tag_count(articles: int) -> int:
    return max(10, articles // 100)


def body(i: int) -> str:
    return "\n\n".join(f"Article {i}, paragraph {p + 1}. {PARAGRAPH}" for p in range(1 + i % 4))


@transaction.atomic
def grow_to(articles: int) -> None:
    """Add the authors, tags, articles and tag links missing for ``articles`` rows (ids 1..articles)."""
    have = Article.objects.count()
    if have >= articles:
        return
    Author.objects.bulk_create(
        [
            Author(name=f"Author {i}", email=f"author{i}@example.com")
            for i in range(Author.objects.count() + 1, author_count(articles) + 1)
        ],
        batch_size=BATCH,
    )
    Tag.objects.bulk_create(
        [Tag(name=f"tag-{i}") for i in range(Tag.objects.count() + 1, tag_count(articles) + 1)], batch_size=BATCH
    )
    authors = list(Author.objects.order_by("id").values_list("id", flat=True))
    tags = list(Tag.objects.order_by("id").values_list("id", flat=True))
    created = Article.objects.bulk_create(
        [
            Article(
                title=f"Article {i}",
                body=body(i),
                published=i % 2 == 0,
                author_id=authors[(i * 7919) % len(authors)],
            )
            for i in range(have + 1, articles + 1)
        ],
        batch_size=BATCH,
    )
    Through = Article.tags.through
    links = [
        Through(article_id=article.pk, tag_id=tags[(number * 13 + j * 101) % len(tags)])
        for number, article in enumerate(created, start=have + 1)
        for j in range((number // 2) % 4)
    ]
    Through.objects.bulk_create(links, batch_size=BATCH, ignore_conflicts=True)


def analyze() -> None:
    """Refresh the planner's statistics after a bulk load, as autovacuum would shortly (PostgreSQL).

    Without it, autovacuum may analyze the new rows in the middle of a
    measurement; SQLite has no such background work, so it is left as is.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def published_id_at(offset: int) -> int:
    """The id of the published article at ``offset`` in the lists' order (by id)."""
    return Article.objects.filter(published=True).order_by("id").values_list("id", flat=True)[offset]
