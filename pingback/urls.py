"""Root URLs: admin, API (one router), webhooks, schema and docs, inbox pages."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from billing.api.member_views import MemberViewSet
from billing.api.views import ApiTokenViewSet
from channels_app.api.views import ChannelViewSet
from channels_app.webhooks import webhook
from contacts.api.views import ContactViewSet
from conversations.api.search import SearchView
from conversations.api.views import ConversationViewSet
from pingback.health import healthz, metrics_view, readyz
from satisfaction.api.views import CsatReportView
from workspace.api.away_views import AwayMessageView
from workspace.api.business_views import BusinessView
from workspace.api.views import (
    AgentViewSet,
    CannedResponseViewSet,
    LabelViewSet,
    SavedFilterViewSet,
    TeamViewSet,
)


# Detail URLs work with and without the trailing slash, as the channel reference
# writes them without it (`/api/v1/channels/{channel_id}`).
class OptionalSlashRouter(DefaultRouter):
    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("channels", ChannelViewSet, basename="channel")
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("contacts", ContactViewSet, basename="contact")
router.register("tokens", ApiTokenViewSet, basename="api-token")
router.register("teams", TeamViewSet, basename="team")
router.register("labels", LabelViewSet, basename="label")
router.register("canned_responses", CannedResponseViewSet, basename="canned-response")
router.register("agents", AgentViewSet, basename="agent")
router.register("members", MemberViewSet, basename="member")
router.register("saved_filters", SavedFilterViewSet, basename="saved-filter")

urlpatterns = [
    # Webhooks first: they are most of the requests, and Django tries the
    # patterns in order (the router's regexes cost more than the webhook
    # itself does in Python). The two-segment pattern cannot match the e-mail
    # webhooks' three segments.
    path(
        "api/v1/webhooks/<str:channel_type>/<str:channel_id>",
        webhook,
        name="webhook",
    ),
    path("api/v1/webhooks/email/", include("channels_app.email_urls")),
    # Probes and the Prometheus scrape: no login, no session (pingback/health.py).
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("contacts.api.merge_urls")),
    path("api/v1/", include("webhooks.api.urls")),
    path("api/v1/", include("automation.api.urls")),
    path("api/v1/search/", SearchView.as_view(), name="api-search"),
    path("api/v1/business/", BusinessView.as_view(), name="api-business"),
    re_path(
        r"^api/v1/channels/(?P<channel_id>[^/]+)/away_message/?$",
        AwayMessageView.as_view(),
        name="api-channel-away-message",
    ),
    path("api/v1/reports/csat/", CsatReportView.as_view(), name="api-reports-csat"),
    path("api/v1/reports/", include("reports.api.urls")),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file of its own
    # (`/api/docs/?script=`), so the page runs under `script-src 'self'`.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema"),
        name="docs",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    # The translated strings of the pages' scripts, in the request's language
    # (pingback/i18n.py): defines gettext(), ngettext() and interpolate().
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("", include("workspace.urls")),
    path("", include("channels_app.settings_urls")),
    path("", include("webhooks.urls")),
    path("", include("automation.urls")),
    path("", include("reports.urls")),
    path("", include("satisfaction.urls")),
    path("", include("billing.urls")),
    path("", include("conversations.urls")),
    path("", include("contacts.panel_urls")),
    path("", include("contacts.urls")),
]
