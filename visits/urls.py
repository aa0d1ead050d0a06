from django.urls import path

from visits import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
]
