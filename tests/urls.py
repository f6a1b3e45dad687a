from django.urls import include, path

urlpatterns = [
    path("", include("example_project.urls")),
    path("test/", include("tests.testapp.urls")),
    path("shapes/", include("tests.testapp.shapes")),
]
