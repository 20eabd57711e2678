"""Django app config for the platform sandbox (test and demo stand-ins only)."""

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """Registers the ``sandbox`` app so its ``run_sandbox`` command is found."""

    name = "sandbox"
    verbose_name = "Platform sandbox"
    default_auto_field = "django.db.models.BigAutoField"
