from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import api, views

router = SimpleRouter()
router.register("owned-notes", api.OwnedNoteViewSet, basename="owned-note")
router.register("posts", api.PostViewSet, basename="post")
router.register("writers", api.WriterViewSet, basename="writer")
router.register("labels", api.LabelViewSet, basename="label")
router.register("posts-with-etags", api.PostWithETagViewSet, basename="post-with-etag")

urlpatterns = [
    path("", include(router.urls)),
    path("generic-notes/<str:key>/", api.NoteDetailView.as_view(), name="generic-note"),
    path("guarded-notes/<int:pk>/", api.GuardedNoteView.as_view(), name="guarded-note"),
    path("notes/", views.note_list, name="note-list"),
    path("notes/<int:pk>/", views.note_detail, name="note-detail"),
    path("async-notes/<int:pk>/", views.note_detail_async, name="note-detail-async"),
    path("notes/by-key/<str:key>/", views.note_by_key, name="note-by-key"),
    path("my-notes/<int:pk>/", views.my_note, name="my-note"),
    path("shared-notes/<int:pk>/", views.shared_note, name="shared-note"),
    path("validator/<str:name>/", views.by_validator, name="by-validator"),
    path("content/", views.by_content, name="by-content"),
    path("validated-notes/<int:pk>/", views.note_by_validator, name="validated-note"),
    path("claimed-notes/<int:pk>/", views.note_by_validator_with_claim, name="claimed-note"),
    path("stamped/<int:pk>/", views.stamped_detail, name="stamped-detail"),
    path("streamed-notes/<int:pk>/", views.note_stream, name="streamed-note"),
    path("plain-posts/", views.plain_post_list, name="plain-post-list"),
    path("plain-posts/<int:pk>/", views.plain_post_detail, name="plain-post-detail"),
]

# The probe's test answers, one flaw each (tests/test_probe.py).
urlpatterns += [path("probe/<slug:flaw>/", views.probe_target, name="probe-target")]
