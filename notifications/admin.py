"""Read-only views of what UIS sent and what became of it."""

from django.contrib import admin
from django.http import HttpRequest

from mindbox_integration.admin_base import PortalModelAdmin
from notifications.models import Delivery, DeliveryAttempt, InboundEvent


class ReadOnlyAdmin(PortalModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class DeliveryInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Delivery
    fields = readonly_fields = ("notification", "status", "attempts", "next_attempt_at", "last_error")
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyAdmin):
    list_display = ["pk", "account", "communication_type", "identity", "received_at"]
    list_filter = ["communication_type", "received_at"]
    search_fields = ["identity", "account__name", "account__uis_app_id"]
    list_select_related = ["account"]
    fields = readonly_fields = ("account", "communication_type", "identity", "received_at", "values", "raw")
    inlines = [DeliveryInline]


class AttemptInline(admin.TabularInline):  # type: ignore[type-arg]
    model = DeliveryAttempt
    fields = readonly_fields = ("started_at", "outcome", "http_status", "duration_ms", "error", "response_body")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["pk", "event", "notification", "status", "attempts", "next_attempt_at", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["transaction_id", "event__identity"]
    list_select_related = ["event", "notification"]
    fields = readonly_fields = (
        "event",
        "notification",
        "status",
        "attempts",
        "next_attempt_at",
        "transaction_id",
        "url",
        "body",
        "last_error",
        "created_at",
        "finished_at",
    )
    inlines = [AttemptInline]
