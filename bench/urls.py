"""PingBack's URLs plus `POST /bench/ceiling`, the bare insert the ingest
benchmark compares PingBack against."""

from django.urls import path

from bench.ceiling import ceiling
from pingback.urls import urlpatterns as pingback_urlpatterns

urlpatterns = [
    path("bench/ceiling", ceiling, name="bench-ceiling"),
    *pingback_urlpatterns,
]
