from importlib.util import find_spec

from django.urls import include, path

urlpatterns = [
    path("", include("example_project.urls")),
    path("test/", include("tests.testapp.urls")),
    path("shapes/", include("tests.testapp.shapes")),
    path("quickstart/", include("tests.quickstart.urls")),
]

if find_spec("ninja") is not None:
    from tests.testapp.ninja_api import api as ninja_api

    urlpatterns.append(path("test-ninja/", ninja_api.urls))
