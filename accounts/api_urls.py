from django.urls import path

from accounts import api

urlpatterns = [
    path("auth/login/", api.LoginView.as_view(), name="api-login"),
    path("auth/token/", api.SessionTokenView.as_view(), name="api-token"),
    path("auth/token/refresh/", api.RefreshView.as_view(), name="api-token-refresh"),
    path("auth/logout/", api.LogoutView.as_view(), name="api-logout"),
    path("me/", api.MeView.as_view(), name="api-me"),
    path("users/", api.UserSearchView.as_view(), name="api-user-search"),
]
