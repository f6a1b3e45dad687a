"""Create the demo users and a deterministic data set; running it again changes nothing."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from example_project.blog.models import Article, Author, Tag

TAG_WORDS = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon"
).split()
BATCH = 1000


def tag_names(count: int) -> list[str]:
    """alpha ... upsilon, then alpha-2 ... and so on: as many as asked, always the same."""
    return [
        TAG_WORDS[i % len(TAG_WORDS)] + (f"-{i // len(TAG_WORDS) + 1}" if i >= len(TAG_WORDS) else "")
        for i in range(count)
    ]


class Command(BaseCommand):
    help = "Create users demo/demo (staff) and reader/reader, and a deterministic set of articles."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--articles", type=int, default=200, help="How many articles (default 200).")

    @transaction.atomic
    def handle(self, *args: Any, articles: int, **options: Any) -> None:
        self.ensure_user("demo", staff=True)
        self.ensure_user("reader", staff=False)
        authors = self.ensure_authors(max(1, articles // 10))
        tags = self.ensure_tags(max(3, min(articles // 10, 200)))
        created = self.ensure_articles(articles, authors, tags)
        self.stdout.write(
            f"seed_demo: {len(authors)} authors, {len(tags)} tags, {articles} articles ({created} new); "
            "users demo/demo (staff) and reader/reader."
        )

    def ensure_user(self, username: str, *, staff: bool) -> None:
        user, created = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": staff})
        if created:
            user.set_password(username)
            user.save()

    def ensure_authors(self, count: int) -> list[Author]:
        existing = {a.email: a for a in Author.objects.all()}
        missing = [
            Author(name=f"Author {i}", email=f"author{i}@example.com")
            for i in range(1, count + 1)
            if f"author{i}@example.com" not in existing
        ]
        Author.objects.bulk_create(missing, batch_size=BATCH)
        by_email = {a.email: a for a in Author.objects.all()}
        return [by_email[f"author{i}@example.com"] for i in range(1, count + 1)]

    def ensure_tags(self, count: int) -> list[Tag]:
        names = tag_names(count)
        Tag.objects.bulk_create([Tag(name=name) for name in names], ignore_conflicts=True, batch_size=BATCH)
        by_name = {t.name: t for t in Tag.objects.filter(name__in=names)}
        return [by_name[name] for name in names]

    def ensure_articles(self, count: int, authors: list[Author], tags: list[Tag]) -> int:
        existing = set(Article.objects.values_list("title", flat=True))
        new = [
            Article(
                title=f"Article {i}",
                body=f"Body of article {i}. " * (1 + i % 5),
                # Every fifth article stays a draft: anonymous users and
                # readers get a 404 for it, staff see it.
                published=i % 5 != 0,
                author=authors[i % len(authors)],
            )
            for i in range(1, count + 1)
            if f"Article {i}" not in existing
        ]
        created = Article.objects.bulk_create(new, batch_size=BATCH)
        Through = Article.tags.through
        links = []
        for article in created:
            number = int(article.title.split()[-1])
            for offset in range(1 + number % 3):
                links.append(Through(article_id=article.pk, tag_id=tags[(number + offset * 7) % len(tags)].pk))
        Through.objects.bulk_create(links, ignore_conflicts=True, batch_size=BATCH)
        return len(created)
