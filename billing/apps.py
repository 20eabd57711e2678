from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Businesses and plans"

    def ready(self) -> None:
        from billing import schema  # noqa: F401  (registers the OpenAPI auth scheme)
