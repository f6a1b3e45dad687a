from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("entries", views.EntryViewSet, basename="entry")

urlpatterns = [
    path("api/", include(router.urls)),
    path("plain/entries/<int:pk>/", views.entry_detail, name="plain-entry-detail"),
]
