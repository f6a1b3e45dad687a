from rest_framework import serializers

from .models import Entry


class EntrySerializer(serializers.ModelSerializer):
    blogger_name = serializers.CharField(source="blogger.name", read_only=True)

    class Meta:
        model = Entry
        fields = ["id", "title", "body", "blogger", "blogger_name", "version", "updated_at"]
        read_only_fields = ["version", "updated_at"]
