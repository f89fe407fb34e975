from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("devices/", views.devices_view, name="devices"),
    path("devices/<int:device_id>/revoke/", views.revoke_device_view, name="revoke-device"),
    path("password/", views.password_change_view, name="password"),
]
