"""Inbound e-mail webhooks of mail providers (django-anymail), per e-mail
channel: `/api/v1/webhooks/email/<channel_id>/<provider>/inbound`, where
`provider` is `mailgun` or `postmark` (`channels_app.email_webhooks`).

Mailgun posts the raw message (`body-mime`) only to URLs ending in `mime`,
hence the `/inbound/mime` form PingBack gives for Mailgun routes; the plain
form receives Mailgun's parsed fields, which anymail reassembles.
"""

from django.urls import path

from channels_app.email_webhooks import email_inbound_webhook

urlpatterns = [
    path(
        "<uuid:channel_id>/<slug:provider>/inbound",
        email_inbound_webhook,
        name="email-inbound-webhook",
    ),
    path(
        "<uuid:channel_id>/<slug:provider>/inbound/mime",
        email_inbound_webhook,
        name="email-inbound-webhook-mime",
    ),
]
