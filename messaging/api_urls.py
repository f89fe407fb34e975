from django.urls import path

from messaging import api

urlpatterns = [
    path("conversations/", api.ConversationsView.as_view(), name="api-conversations"),
    path("conversations/<int:conversation_id>/messages/", api.MessagesView.as_view(), name="api-messages"),
    path("conversations/<int:conversation_id>/read/", api.ReadMarkerView.as_view(), name="api-read"),
    path("conversations/<int:conversation_id>/leave/", api.LeaveView.as_view(), name="api-leave"),
    path("notifications/", api.NotificationsView.as_view(), name="api-notifications"),
    path("notifications/read/", api.NotificationsReadView.as_view(), name="api-notifications-read"),
]
