"""Every contender's detail and list, under ``/<key>/articles/``."""

from bench.contenders import CONTENDERS

urlpatterns = [pattern for contender in CONTENDERS for pattern in contender.urls()]
