"""The promotion module in the Django admin: pipelines and stages, exchange rates, the
catalogue (funnel); field work's classes are in ``fieldwork_admin``."""

from django.contrib import admin

from . import fieldwork_admin  # noqa: F401  (visit types, visits, tasks, meetings)
from .models import ExchangeRate, Pipeline, Product, ProductCategory, Stage


class StageInline(admin.TabularInline):
    model = Stage
    extra = 1
    fields = ("order", "name", "probability")
    ordering = ("order", "id")


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ("name", "order", "is_active")
    list_editable = ("order", "is_active")
    search_fields = ("name",)
    inlines = [StageInline]


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    list_display = ("currency", "valid_from", "rate")
    list_filter = ("currency",)
    date_hierarchy = "valid_from"
    ordering = ("currency", "-valid_from")

    def save_model(self, request, obj, form, change):
        obj.currency = obj.currency.upper()
        super().save_model(request, obj, form, change)


@admin.register(ProductCategory)
class ProductCategoryAdmin(admin.ModelAdmin):
    search_fields = ("name",)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "kind",
        "category",
        "price",
        "currency",
        "vat_rate",
        "is_active",
    )
    list_filter = ("kind", "category", "is_active", "vat_rate")
    search_fields = ("code", "name")
    prepopulated_fields = {"code": ("name",)}
