from django.apps import AppConfig


class PresenceConfig(AppConfig):
    """Owns who is online: per-socket presence across processes (online, idle), visibility, announcements, last seen."""

    name = "presence"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import me
        from messaging.signals import member_left
        from presence import selectors, services
        from presence.realtime import SOCKET_APP, check_store
        from realtime import health, registry
        from realtime.fields import StrictBooleanField

        registry.register(SOCKET_APP)
        health.register("presence", check_store)
        me.register(
            me.MeField(
                name="presence_visible",
                field=lambda: StrictBooleanField(required=False, help_text="Others see your presence (else: offline)."),
                read=lambda *, user_id: selectors.is_visible(user_id=user_id),
                write=lambda *, user_id, value: services.set_visibility(user_id=user_id, visible=value),
            )
        )
        member_left.connect(_forget_former_contacts, dispatch_uid="presence.forget_former_contacts")


def _forget_former_contacts(sender, *, user_id: int, member_ids: list[int], **kwargs) -> None:
    """A member left a conversation: they and those they no longer share one with stop seeing each other."""
    from presence.services import forget_former_contacts

    forget_former_contacts(user_id=user_id, member_ids=member_ids)
