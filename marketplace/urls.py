from django.contrib.auth.views import LogoutView
from django.urls import path

from marketplace import views

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("login/", views.PrintFairLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("organisation/", views.organization_detail, name="organization"),
    path("jobs/", views.job_list, name="job_list"),
    path("jobs/new/", views.job_create, name="job_create"),
    path("jobs/<int:job_id>/", views.job_detail, name="job_detail"),
    path("jobs/<int:job_id>/edit/", views.job_edit, name="job_edit"),
    path("jobs/<int:job_id>/publish/", views.job_publish, name="job_publish"),
    path("jobs/<int:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<int:job_id>/files/", views.design_file_upload, name="design_file_upload"),
    path("jobs/<int:job_id>/files/table/", views.design_file_table, name="design_file_table"),
    path(
        "jobs/<int:job_id>/files/<uuid:file_id>/download/",
        views.design_file_download,
        name="design_file_download",
    ),
    path(
        "jobs/<int:job_id>/files/<uuid:file_id>/delete/",
        views.design_file_delete,
        name="design_file_delete",
    ),
]
