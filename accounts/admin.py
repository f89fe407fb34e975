"""Admin for devices: list, filter, and revoke; revoke all of a user's devices from the user list."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from accounts import services
from accounts.models import Device


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "active"), ("revoked", "revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
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
