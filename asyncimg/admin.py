from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from asyncimg.models import CallbackEvent, ProcessedImage, Upload, UploadStatus
from asyncimg.services.transitions import publish_failure, review, transition


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = (
        "filename",
        "status",
        "moderation_status",
        "content_type",
        "size",
        "owner",
        "created_at",
        "expires_at",
    )
    list_filter = ("status", "moderation_status", "content_type", "created_at")
    search_fields = ("id", "filename", "key", "owner__username", "owner__email", "error_code")
    date_hierarchy = "created_at"
    list_select_related = ("owner",)
    raw_id_fields = ("owner", "image")
    actions = ("cancel_uploads", "approve_held", "reject_held")
    # Everything about the bytes and the lifecycle is set by the services, never by hand.
    readonly_fields = (
        "id",
        "filename",
        "content_type",
        "size",
        "key",
        "status",
        "version",
        "error_code",
        "error_message",
        "moderation_status",
        "moderation_labels",
        "image",
        "preview",
        "session_key",
        "expires_at",
        "created_at",
        "updated_at",
    )
    fields = (*readonly_fields[:5], "owner", *readonly_fields[5:])

    @admin.display(description="preview")
    def preview(self, obj: Upload) -> str:
        if not obj.image_id:
            return "—"
        from asyncimg.services.state import image_state

        state = image_state(obj.image)  # type: ignore[arg-type]
        small = min(state.variants, key=lambda v: v.width, default=None)
        return format_html(
            '<img src="{}" style="max-width:320px">', small.url if small else state.url
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # uploads start with a presigned credential, not in the admin

    @admin.action(description="Cancel selected pending uploads")
    def cancel_uploads(self, request: HttpRequest, queryset: QuerySet[Upload]) -> None:
        done = 0
        for pk in queryset.values_list("pk", flat=True):
            state = transition(
                pk,
                UploadStatus.FAILED,
                error_code="CANCELLED",
                error_message="Cancelled by an administrator.",
                on_commit=publish_failure,
            )
            done += state is not None
        self.message_user(request, f"Cancelled {done} upload(s).", messages.SUCCESS)

    @admin.action(description="Approve selected uploads held for review")
    def approve_held(self, request: HttpRequest, queryset: QuerySet[Upload]) -> None:
        self._review(request, queryset, approve=True)

    @admin.action(description="Reject selected uploads held for review (deletes their images)")
    def reject_held(self, request: HttpRequest, queryset: QuerySet[Upload]) -> None:
        self._review(request, queryset, approve=False)

    def _review(self, request: HttpRequest, queryset: QuerySet[Upload], *, approve: bool) -> None:
        # Each decision is its own conditional UPDATE, published to the owner's subscribers;
        # uploads that are not (or no longer) held are left alone.
        done = sum(
            review(pk, approve=approve) is not None for pk in queryset.values_list("pk", flat=True)
        )
        verb = "Approved" if approve else "Rejected"
        level = messages.SUCCESS if done else messages.WARNING
        self.message_user(request, f"{verb} {done} upload(s) held for review.", level)


@admin.register(ProcessedImage)
class ProcessedImageAdmin(admin.ModelAdmin):
    list_display = ("id", "width", "height", "format", "size", "created_at")
    list_filter = ("format",)
    search_fields = ("id", "key")
    readonly_fields = ("id", "key", "width", "height", "format", "size", "variants", "metadata")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(CallbackEvent)
class CallbackEventAdmin(admin.ModelAdmin):
    list_display = ("event_id", "event", "upload", "received_at")
    list_filter = ("event",)
    search_fields = ("event_id", "upload__id")
    readonly_fields = ("event_id", "upload", "event", "received_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
