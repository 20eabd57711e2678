"""`/api/v1/webhooks/` (outgoing webhooks). Every path ends with a slash:
without it, a two-segment path is the platforms' incoming webhook URL."""

from rest_framework.routers import SimpleRouter

from webhooks.api.views import WebhookEndpointViewSet

router = SimpleRouter(trailing_slash=True)
router.register("webhooks", WebhookEndpointViewSet, basename="webhook-endpoint")

urlpatterns = router.urls
