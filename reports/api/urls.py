from django.urls import path

from reports.api.views import ReportSummaryView

urlpatterns = [
    path("summary/", ReportSummaryView.as_view(), name="api-reports-summary"),
]
