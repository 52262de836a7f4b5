from django.contrib import admin
from django.urls import include, path, re_path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.converters import IdConverter

register_converter(IdConverter, "id")

from config.api import api_not_found  # noqa: E402 - the apps' URL modules use the converter
from config.health import healthz  # noqa: E402
from machines.urls import page_urlpatterns as machine_page_urlpatterns  # noqa: E402
from machines.urls import urlpatterns as machine_api_urlpatterns  # noqa: E402
from printshops.urls import api_urlpatterns  # noqa: E402

admin.site.site_header = "PrintFair operations"
admin.site.site_title = "PrintFair admin"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_urlpatterns)),
    path("api/v1/", include(machine_api_urlpatterns)),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="schema",
    ),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(
            url_name="schema", authentication_classes=[], permission_classes=[]
        ),
        name="api_docs",
    ),
    re_path(r"^api/(?P<path>.*)$", api_not_found),
    path("", include("marketplace.urls")),
    path("", include("printshops.urls")),
    path("", include(machine_page_urlpatterns)),
]

handler400 = "config.api.bad_request"
handler403 = "config.api.permission_denied"
handler404 = "config.api.page_not_found"
handler500 = "config.api.server_error"
