"""Admin: when users were last seen (read-only; presence writes it)."""

from django.contrib import admin

from presence.models import LastSeen


@admin.register(LastSeen)
class LastSeenAdmin(admin.ModelAdmin):
    list_display = ["user", "at"]
    search_fields = ["user__username"]
    ordering = ["-at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
