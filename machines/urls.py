from django.urls import path

from machines import apis, views

#: The shop's pages.
page_urlpatterns = [
    path("shop/machines/", views.machine_list, name="machine_list"),
    path("shop/machines/<id:machine_id>/", views.machine_detail, name="machine_detail"),
    path(
        "shop/machines/<id:machine_id>/status/",
        views.machine_status_panel,
        name="machine_status_panel",
    ),
    path(
        "shop/machines/<id:machine_id>/samples.json",
        views.machine_samples,
        name="machine_samples",
    ),
    path(
        "shop/machines/<id:machine_id>/keys/<id:key_id>/revoke/",
        views.machine_key_revoke,
        name="machine_key_revoke",
    ),
]

#: The shop API's (under /api/v1/).
urlpatterns = [
    path("machines/", apis.MachinesApi.as_view(), name="api_machines"),
    path("machines/<id:machine_id>/", apis.MachineDetailApi.as_view(), name="api_machine"),
    path("machines/<id:machine_id>/keys/", apis.MachineKeysApi.as_view(), name="api_machine_keys"),
    path(
        "machines/<id:machine_id>/keys/approve/",
        apis.MachineKeyApproveApi.as_view(),
        name="api_machine_key_approve",
    ),
    path(
        "machines/<id:machine_id>/keys/revoke/",
        apis.MachineKeyRevokeApi.as_view(),
        name="api_machine_key_revoke",
    ),
    path(
        "machines/<id:machine_id>/events/",
        apis.MachineEventsApi.as_view(),
        name="api_machine_events",
    ),
]
