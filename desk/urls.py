from __future__ import annotations

from django.urls import path

from desk import views

urlpatterns = [
    path("desk/canned/", views.canned, name="desk-canned"),
    path("desk/knowledge/search/", views.knowledge_search, name="desk-knowledge-search"),
    path("desk/<str:library>/manage/", views.manage, name="desk-manage"),
    path("desk/<str:library>/<int:pk>/", views.edit, name="desk-edit"),
    path("desk/<str:library>/<int:pk>/delete/", views.delete, name="desk-delete"),
]
