from django.urls import path

from processes.absences import views

urlpatterns = [
    path("", views.absence_page, name="absence"),
    path("<int:user_id>/", views.absence_page, name="absence_for"),
    path("<int:absence_id>/cancel/", views.absence_cancel, name="absence_cancel"),
]
