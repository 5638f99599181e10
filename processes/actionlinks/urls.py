from django.urls import path

from processes.actionlinks import views

urlpatterns = [
    path("<str:token>/", views.action_link, name="action_link"),
]
