from django.urls import path

from printshops import apis
from printshops.views import certificates, production, receipts, shop, verification

urlpatterns = [
    path("shop/", shop.shop_profile, name="shop_profile"),
    path("shop/api-keys/", shop.api_keys, name="api_keys"),
    path("shop/api-keys/<id:key_id>/revoke/", shop.api_key_revoke, name="api_key_revoke"),
    path("shop/jobs/", shop.open_jobs, name="shop_open_jobs"),
    path("shop/bids/", shop.shop_bids, name="shop_bids"),
    path("shop/orders/", shop.shop_orders, name="shop_orders"),
    path("shop/payouts/<id:payout_id>/receipt/", receipts.payout_receipt, name="payout_receipt"),
    path("jobs/<id:job_id>/receipt/", receipts.order_receipt, name="order_receipt"),
    path("shop/orders/<id:job_id>/", shop.shop_order_detail, name="shop_order_detail"),
    path(
        "shop/orders/<id:job_id>/timeline/",
        shop.shop_order_timeline,
        name="shop_order_timeline",
    ),
    path("shops/<id:organization_id>/", shop.shop_public_profile, name="shop_public_profile"),
    # A customer's job: its production section, evidence files and certificates.
    path(
        "jobs/<id:job_id>/production/",
        production.job_production_timeline,
        name="job_production_timeline",
    ),
    path(
        "jobs/<id:job_id>/evidence/<uuid:evidence_id>/",
        production.evidence_download,
        name="evidence_download",
    ),
    path(
        "jobs/<id:job_id>/certificates/<uuid:certificate_id>/",
        certificates.certificate_detail,
        name="certificate_detail",
    ),
    path(
        "jobs/<id:job_id>/certificates/<uuid:certificate_id>/pdf/",
        certificates.certificate_download,
        name="certificate_download",
    ),
    # Public, no login.
    path("verify/<uuid:record_id>/", verification.verify_record, name="verify_record"),
    path("verify/<uuid:record_id>/check/", verification.verify_check, name="verify_check"),
    path("verify/<uuid:record_id>/proof.json", verification.verify_proof, name="verify_proof"),
]

api_urlpatterns = [
    path("jobs/", apis.JobListApi.as_view(), name="api_job_list"),
    path("jobs/<id:job_id>/", apis.JobDetailApi.as_view(), name="api_job_detail"),
    path("jobs/<id:job_id>/bids/", apis.JobBidsApi.as_view(), name="api_job_bids"),
    path(
        "jobs/<id:job_id>/bids/reveal/", apis.JobBidRevealApi.as_view(), name="api_job_bid_reveal"
    ),
    path("bids/", apis.BidsApi.as_view(), name="api_bids"),
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
