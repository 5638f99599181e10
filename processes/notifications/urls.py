from django.urls import path

from processes.notifications import views

urlpatterns = [
    path("", views.notification_center, name="notification_center"),
    path("counts/", views.task_counts, name="task_counts"),
    path("read-all/", views.notifications_read_all, name="notifications_read_all"),
    path("preferences/", views.notification_preferences, name="notification_preferences"),
    path("<int:notification_id>/open/", views.notification_open, name="notification_open"),
    path("<int:notification_id>/read/", views.notification_read, name="notification_read"),
]
