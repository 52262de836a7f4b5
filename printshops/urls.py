from django.urls import path

from printshops import apis, views

urlpatterns = [
    path("shop/", views.shop_profile, name="shop_profile"),
    path("shop/api-keys/", views.api_keys, name="api_keys"),
    path("shop/api-keys/<id:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("shop/jobs/", views.open_jobs, name="shop_open_jobs"),
    path("shop/orders/", views.shop_orders, name="shop_orders"),
    path("shop/orders/<id:job_id>/", views.shop_order_detail, name="shop_order_detail"),
    path(
        "shop/orders/<id:job_id>/timeline/",
        views.shop_order_timeline,
        name="shop_order_timeline",
    ),
    path("shops/<id:organization_id>/", views.shop_public_profile, name="shop_public_profile"),
]

api_urlpatterns = [
    path("jobs/", apis.JobListApi.as_view(), name="api_job_list"),
    path("jobs/<id:job_id>/", apis.JobDetailApi.as_view(), name="api_job_detail"),
    path("jobs/<id:job_id>/bids/", apis.JobBidsApi.as_view(), name="api_job_bids"),
    path(
        "jobs/<id:job_id>/bids/reveal/", apis.JobBidRevealApi.as_view(), name="api_job_bid_reveal"
    ),
    path("bids/", apis.BidListApi.as_view(), name="api_bids"),
    path("chain/", apis.ChainInfoApi.as_view(), name="api_chain"),
    path("orders/", apis.OrderListApi.as_view(), name="api_orders"),
    path(
        "orders/<id:job_id>/delivered/",
        apis.OrderDeliveredApi.as_view(),
        name="api_order_delivered",
    ),
    path("payouts/", apis.PayoutsApi.as_view(), name="api_payouts"),
    path("payouts/withdraw/", apis.PayoutWithdrawApi.as_view(), name="api_payout_withdraw"),
    path("releases/", apis.ReleaseListApi.as_view(), name="api_releases"),
    path(
        "releases/<uuid:file_id>/ciphertext/",
        apis.ReleaseCiphertextApi.as_view(),
        name="api_release_ciphertext",
    ),
    path("jobs/<id:job_id>/tickets/", apis.JobPrintTicketsApi.as_view(), name="api_job_tickets"),
    path("jobs/<id:job_id>/evidence/", apis.JobEvidenceApi.as_view(), name="api_job_evidence"),
    path("jobs/<id:job_id>/events/", apis.JobEventsApi.as_view(), name="api_job_events"),
    path("jobs/<id:job_id>/quality/", apis.JobQualityApi.as_view(), name="api_job_quality"),
    path(
        "jobs/<id:job_id>/quality/batch/",
        apis.JobQualityBatchApi.as_view(),
        name="api_job_quality_batch",
    ),
    path("jobs/<id:job_id>/records/", apis.JobRecordsApi.as_view(), name="api_job_records"),
    path(
        "jobs/<id:job_id>/quality-gate/",
        apis.JobQualityGateApi.as_view(),
        name="api_job_quality_gate",
    ),
    path("shop/keys/", apis.ShopKeysApi.as_view(), name="api_shop_keys"),
    path("shop/keys/challenge/", apis.ShopKeyChallengeApi.as_view(), name="api_shop_key_challenge"),
]
