"""Inbound e-mail webhooks of mail providers (django-anymail), per e-mail
channel: `/api/v1/webhooks/email/<channel_id>/<provider>/inbound`."""

urlpatterns: list = []
