from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.api import api_not_found
from printshops.urls import api_urlpatterns

admin.site.site_header = "PrintFair operations"
admin.site.site_title = "PrintFair admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_urlpatterns)),
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
]
