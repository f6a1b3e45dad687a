from django.db import models

from conditional_api.models import VersionedModel


class Author(VersionedModel):
    name = models.CharField(max_length=100)
    email = models.EmailField()

    def __str__(self) -> str:
        return self.name


class Tag(VersionedModel):
    name = models.CharField(max_length=50, unique=True)

    def __str__(self) -> str:
        return self.name


class Article(VersionedModel):
    title = models.CharField(max_length=200)
    body = models.TextField()
    published = models.BooleanField(default=False)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="articles")
    tags = models.ManyToManyField(Tag, related_name="articles", blank=True)

    # The representation shows the author's name and the tags: their writes
    # bump the article, so its ETag and Last-Modified stay true.
    depends_on = ("author", "tags")

    def __str__(self) -> str:
        return self.title
