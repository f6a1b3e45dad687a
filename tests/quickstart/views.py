from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_http_methods

from conditional_api import conditional
from conditional_api.drf import ConditionalModelViewSet

from .models import Entry
from .serializers import EntrySerializer


@require_http_methods(["GET", "HEAD"])
@conditional(Entry)
def entry_detail(request: HttpRequest, pk: int) -> JsonResponse:
    entry = get_object_or_404(Entry.objects.select_related("blogger"), pk=pk)
    return JsonResponse({"id": entry.pk, "title": entry.title, "blogger": entry.blogger.name})


class EntryViewSet(ConditionalModelViewSet):
    queryset = Entry.objects.select_related("blogger").order_by("id")
    serializer_class = EntrySerializer
