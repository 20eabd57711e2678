from django.apps import AppConfig


class ChannelsAppConfig(AppConfig):
    name = "channels_app"
    verbose_name = "Channels"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from channels_app import checks  # noqa: F401  (registers the system check)
        from channels_app.models import Channel
        from channels_app.selectors import webhook_channel_forget

        def forget(sender, instance, **kwargs) -> None:
            webhook_channel_forget(instance.pk)

        post_save.connect(forget, sender=Channel, weak=False)
        post_delete.connect(forget, sender=Channel, weak=False)
