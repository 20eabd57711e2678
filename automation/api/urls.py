"""`/api/v1/automation-rules/`: detail URLs with and without the trailing
slash, as the main router's."""

from rest_framework.routers import SimpleRouter

from automation.api.views import AutomationRuleViewSet


class _OptionalSlashRouter(SimpleRouter):
    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = _OptionalSlashRouter()
router.register("automation-rules", AutomationRuleViewSet, basename="automation-rule")

urlpatterns = router.urls
