from django.urls import path

from presence import api

urlpatterns = [
    path("presence/", api.PresenceView.as_view(), name="api-presence"),
]
