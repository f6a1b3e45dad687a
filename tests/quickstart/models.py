from django.db import models

from conditional_api.models import VersionedModel


class Blogger(VersionedModel):
    name = models.CharField(max_length=100)


class Entry(VersionedModel):
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    blogger = models.ForeignKey(Blogger, on_delete=models.CASCADE, related_name="entries")

    # The representation shows the blogger's name: renaming the blogger
    # bumps the entry too, so its ETag and Last-Modified stay true.
    depends_on = ("blogger",)
