"""Print curl lines that show 200, 304, 412 and 428 against the demo server."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from example_project.blog.models import Article


class Command(BaseCommand):
    help = "Print curl commands that show the validators at work."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, base: str, **options: Any) -> None:
        article = Article.objects.filter(published=True).order_by("id").first()
        url = f"{base}/api/articles/{article.pk if article else 1}/"
        self.stdout.write(
            f"""
Serving the example API at {base}/api/ (Ctrl-C to stop). In another shell:

  # 200, with a strong ETag, Last-Modified and Cache-Control: no-cache
  curl -i {url}

  # 304: revalidate with that ETag (no query beyond the validator, no serializer)
  ETAG=$(curl -sI {url} | tr -d '\\r' | awk 'tolower($1)=="etag:" {{print $2}}')
  curl -i -H "If-None-Match: $ETAG" {url}

  # 428: a write without a precondition
  curl -i -u demo:demo -X PATCH -H 'Content-Type: application/json' -d '{{"title": "Edited"}}' {url}

  # 412: a write with a stale ETag; nothing is written
  curl -i -u demo:demo -X PATCH -H 'If-Match: "stale"' -H 'Content-Type: application/json' -d '{{"title": "Edited"}}' {url}

  # 200: a write with the current ETag answers with the new ETag
  curl -i -u demo:demo -X PATCH -H "If-Match: $ETAG" -H 'Content-Type: application/json' -d '{{"title": "Edited"}}' {url}
"""
        )
