"""`django.contrib.admin` with PingBack's admin site (`INSTALLED_APPS`)."""

from django.contrib.admin.apps import AdminConfig


class PingBackAdminConfig(AdminConfig):
    """Makes `admin.site` a `billing.admin_scope.PingBackAdminSite`, whose door
    is the member's role rather than `is_staff` (imported once the models are
    loaded, so this module imports none)."""

    default_site = "billing.admin_scope.PingBackAdminSite"
