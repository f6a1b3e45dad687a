"""A dependency declaration broken on purpose: reminders shown with their note owner's name.

``Reminder.depends_on`` names ``note`` but not ``note__owner``, so renaming
the owner changes these bodies and not their validators: the stale 304 that
sampled verification exists to catch. Mounted only by the tests that want
it (``pytest.mark.urls``), so the suite's own URLconf stays clean of W003.
"""

from __future__ import annotations

from importlib.util import find_spec

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import include, path
from rest_framework import serializers
from rest_framework.routers import SimpleRouter

from conditional_api import conditional
from conditional_api.drf import ConditionalReadOnlyModelViewSet

from .models import Reminder


def _shown(reminder: Reminder) -> dict[str, str]:
    owner = reminder.note.owner
    return {"text": reminder.text, "owner": owner.username if owner else ""}


#: Texts to write to the reminder while the view builds its body: a write committing in the middle of a request.
WRITE_WHILE_BUILDING: list[str] = []


@conditional(Reminder, query_params=[])
def reminder_detail(request: HttpRequest, pk: int) -> JsonResponse:
    if WRITE_WHILE_BUILDING:
        Reminder.objects.filter(pk=pk).update(text=WRITE_WHILE_BUILDING.pop())
    return JsonResponse(_shown(get_object_or_404(Reminder.objects.select_related("note__owner"), pk=pk)))


@conditional(Reminder, query_params=[])
async def reminder_detail_async(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(_shown(await Reminder.objects.select_related("note__owner").aget(pk=pk)))


class ReminderSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="note.owner.username", default="")

    class Meta:
        model = Reminder
        fields = ["text", "owner"]


class ReminderViewSet(ConditionalReadOnlyModelViewSet):
    queryset = Reminder.objects.select_related("note__owner").order_by("id")
    serializer_class = ReminderSerializer
    conditional_options = {"query_params": []}


router = SimpleRouter()
router.register("reminders", ReminderViewSet, basename="reminder")

urlpatterns = [
    path("drf/", include(router.urls)),
    path("plain/reminders/<int:pk>/", reminder_detail, name="plain-reminder-detail"),
    path("async/reminders/<int:pk>/", reminder_detail_async, name="async-reminder-detail"),
]

if find_spec("ninja") is not None:
    from ninja import NinjaAPI, Schema

    from conditional_api.ninja import conditional as conditional_operation

    class ReminderOut(Schema):
        text: str
        owner: str

    ninja_api = NinjaAPI(urls_namespace="ninja-undeclared")

    @ninja_api.get("/reminders/{int:pk}/", response=ReminderOut, url_name="reminder-detail")
    @conditional_operation(Reminder, query_params=[])
    def ninja_reminder_detail(request: HttpRequest, pk: int) -> dict[str, str]:
        return _shown(get_object_or_404(Reminder.objects.select_related("note__owner"), pk=pk))

    urlpatterns.append(path("ninja/", ninja_api.urls))
