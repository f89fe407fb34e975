"""Admin for devices: list, filter, and revoke; revoke all of a user's devices from the user list.

SimpleJWT's token-blacklist pages are replaced by ones that never show a token (only its jti, user and dates).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from rest_framework_simplejwt.token_blacklist import admin as blacklist_admin
from rest_framework_simplejwt.token_blacklist.models import (
    BlacklistedToken,
    OutstandingToken,
)

from accounts import services
from accounts.models import Device


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "active"), ("revoked", "revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.unrevoked()
        if self.value() == "revoked":
            return queryset.revoked()
        return queryset


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "client_id", "user_agent", "ip_address", "created_at", "last_used_at", "status"]
    list_filter = [StatusFilter, "user"]
    list_select_related = ["user"]
    search_fields = ["user__username", "client_id", "user_agent", "ip_address"]
    readonly_fields = [f.name for f in Device._meta.fields]
    actions = ["revoke"]

    @admin.display(description="status")
    def status(self, device: Device) -> str:
        return f"revoked ({device.get_revoke_reason_display()})" if device.is_revoked else "active"

    @admin.action(description="Revoke selected devices", permissions=["change"])
    def revoke(self, request, queryset):
        count = services.revoke_devices(devices=queryset, reason=Device.RevokeReason.ADMIN, by=request.user)
        self.message_user(request, f"Revoked {count} device(s).", messages.SUCCESS)

    def has_add_permission(self, request) -> bool:
        return False


User = get_user_model()


class DedwenUserAdmin(UserAdmin):
    actions = ["revoke_all_devices"]

    @admin.action(description="Revoke all devices of selected users", permissions=["change"])
    def revoke_all_devices(self, request, queryset):
        count = sum(
            services.revoke_user_devices(user=user, reason=Device.RevokeReason.ADMIN, by=request.user) for user in queryset
        )
        self.message_user(request, f"Revoked {count} device(s).", messages.SUCCESS)


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, DedwenUserAdmin)


class TokenlessOutstandingTokenAdmin(blacklist_admin.OutstandingTokenAdmin):
    """SimpleJWT's read-only outstanding-token pages without the `token` column: a stored refresh token is live."""

    exclude = ["token"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [name for name in super().get_readonly_fields(request, obj) if name != "token"]


class ReadOnlyBlacklistedTokenAdmin(blacklist_admin.BlacklistedTokenAdmin):
    """SimpleJWT's blacklisted-token list, read-only: its form would list every outstanding token."""

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return request.method in ("GET", "HEAD") and super().has_change_permission(request, obj)


for model, model_admin in [(OutstandingToken, TokenlessOutstandingTokenAdmin), (BlacklistedToken, ReadOnlyBlacklistedTokenAdmin)]:
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
