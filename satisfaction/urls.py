from django.urls import path

from satisfaction import views

urlpatterns = [path("rate/<str:token>/", views.rate_page, name="satisfaction-rate")]
