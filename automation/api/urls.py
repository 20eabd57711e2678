"""`/api/v1/automation-rules/`."""

from rest_framework.routers import SimpleRouter

from automation.api.views import AutomationRuleViewSet

router = SimpleRouter(trailing_slash="/?")
router.register("automation-rules", AutomationRuleViewSet, basename="automation-rule")

urlpatterns = router.urls
