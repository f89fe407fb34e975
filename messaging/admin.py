"""Admin for conversations (with their members), messages and notifications."""

from __future__ import annotations

from django.contrib import admin

from messaging import services
from messaging.models import Conversation, Membership, Message, Notification


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]
    fields = ["user", "joined_at", "last_read_id", "left_at"]


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "__str__", "kind", "created_by", "created_at", "last_activity_at"]
    list_filter = ["kind"]
    search_fields = ["title", "memberships__user__username"]
    list_select_related = ["created_by"]
    raw_id_fields = ["created_by"]
    readonly_fields = ["direct_key", "last_message", "created_at", "last_activity_at"]
    inlines = [MembershipInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "conversation", "sender", "short_body", "created_at"]
    list_filter = ["created_at"]
    list_select_related = ["conversation", "sender"]
    search_fields = ["body", "client_id", "sender__username"]
    raw_id_fields = ["conversation", "sender"]
    date_hierarchy = "created_at"

    @admin.display(description="body")
    def short_body(self, message: Message) -> str:
        return message.body if len(message.body) <= 80 else message.body[:79] + "…"


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "kind", "text", "created_at", "read_at"]
    list_filter = ["kind", ("read_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["user__username", "text"]
    raw_id_fields = ["user"]

    # Changes made here bypass the services: recount the unread notifications of every user they touch.

    def save_model(self, request, obj, form, change):
        before = Notification.objects.filter(pk=obj.pk).values_list("user_id", flat=True).first() if change else None
        super().save_model(request, obj, form, change)
        services.recount_unread_notifications(user_ids={obj.user_id, before} - {None})

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        services.recount_unread_notifications(user_ids=[obj.user_id])

    def delete_queryset(self, request, queryset):
        user_ids = set(queryset.values_list("user_id", flat=True))
        super().delete_queryset(request, queryset)
        services.recount_unread_notifications(user_ids=user_ids)
