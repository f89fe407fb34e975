from django.urls import path

from messaging import views

urlpatterns = [
    path("", views.inbox_view, name="inbox"),
    path("conversations/<int:conversation_id>/", views.conversation_view, name="conversation"),
]
