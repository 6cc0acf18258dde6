from __future__ import annotations

from django.urls import path

from desk import views_categories as views

urlpatterns = [
    path("desk/categories/", views.category_list, name="desk-categories"),
    path("desk/categories/new/", views.category_new, name="desk-category-new"),
    path("desk/categories/<int:pk>/", views.category_detail, name="desk-category"),
    path("desk/categories/<int:pk>/limits/", views.category_limit, name="desk-category-limit"),
    path(
        "desk/categories/limits/<int:pk>/delete/",
        views.limit_delete,
        name="desk-category-limit-delete",
    ),
]
