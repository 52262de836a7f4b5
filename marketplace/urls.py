from django.contrib.auth import views as auth_views
from django.contrib.auth.views import LogoutView
from django.urls import path, re_path

from marketplace.forms import NewPasswordForm, ResetPasswordForm
from marketplace.views import accounts, designs, jobs, orders, organization

urlpatterns = [
    path("", accounts.home, name="home"),
    path("signup/", accounts.signup, name="signup"),
    path("signup/confirm/<str:token>/", accounts.signup_confirm, name="signup_confirm"),
    # Django's password reset, which answers alike whether or not an address has an account.
    path(
        "password/reset/",
        auth_views.PasswordResetView.as_view(form_class=ResetPasswordForm),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            form_class=NewPasswordForm,
            # The link proves the address; logging in also clears a login lockout (axes).
            post_reset_login=True,
            post_reset_login_backend=accounts.MODEL_BACKEND,
        ),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("login/", accounts.PrintFairLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("dashboard/", accounts.dashboard, name="dashboard"),
    path("organisation/", organization.organization_detail, name="organization"),
    path(
        "organisation/notifications/",
        organization.account_notifications,
        name="account_notifications",
    ),
    path("organisation/wallet/faucet/", organization.wallet_faucet, name="wallet_faucet"),
    path("organisation/wallet/withdraw/", organization.wallet_withdraw, name="wallet_withdraw"),
    path("organisation/wallet/own/", organization.wallet_register_own, name="wallet_register_own"),
    re_path(r"^designs/(?P<sha256>[0-9a-fA-F]{64})/$", designs.design_proof, name="design_proof"),
    path("jobs/", jobs.job_list, name="job_list"),
    path("jobs/new/", jobs.job_create, name="job_create"),
    path("jobs/<id:job_id>/", jobs.job_detail, name="job_detail"),
    path("jobs/<id:job_id>/edit/", jobs.job_edit, name="job_edit"),
    path("jobs/<id:job_id>/publish/", jobs.job_publish, name="job_publish"),
    path("jobs/<id:job_id>/cancel/", jobs.job_cancel, name="job_cancel"),
    path("jobs/<id:job_id>/order/", orders.job_order_panel, name="job_order_panel"),
    path("jobs/<id:job_id>/order/fund/", orders.order_fund, name="order_fund"),
    path("jobs/<id:job_id>/order/accept/", orders.order_accept, name="order_accept"),
    path("jobs/<id:job_id>/order/dispute/", orders.order_dispute, name="order_dispute"),
    path("jobs/<id:job_id>/order/refund/", orders.order_claim_refund, name="order_claim_refund"),
    path("jobs/<id:job_id>/files/", designs.design_file_upload, name="design_file_upload"),
    path("jobs/<id:job_id>/files/table/", designs.design_file_table, name="design_file_table"),
    path(
        "jobs/<id:job_id>/files/<uuid:file_id>/download/",
        designs.design_file_download,
        name="design_file_download",
    ),
    path(
        "jobs/<id:job_id>/files/<uuid:file_id>/delete/",
        designs.design_file_delete,
        name="design_file_delete",
    ),
]
