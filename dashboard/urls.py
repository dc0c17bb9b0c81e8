"""Dashboard pages, served by the ``all`` role only (mounted in ``iotserver.urls``)."""

from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.HomePage.as_view(), name="home"),
    path("login", views.LoginPage.as_view(), name="login"),
    path("register", views.RegisterPage.as_view(), name="register"),
    path("dashboard", views.DashboardPage.as_view(), name="dashboard"),
    path("dashboard/devices", views.DevicesPage.as_view(), name="devices"),
    path("dashboard/status", views.StatusPage.as_view(), name="status"),
]
