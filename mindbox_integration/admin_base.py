"""What every admin class of the portal shares: secret fields kept out of URL filters, and
tenancy: every queryset, change/delete/history view, bulk action, search, autocomplete and
foreign-key choice list sees only the accounts the user may see (tenancy.scope). And for the
configuration models, the audit log: every save, inline save and delete is recorded (audit)."""

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import TO_FIELD_VAR
from django.contrib.admin.utils import unquote
from django.db.models import Model, QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.text import capfirst
from django.utils.translation import gettext

from mindbox_integration import audit, tenancy

SECRET_FIELDS = ("secret_key", "inbound_token", "token_hash")
REGEX_LOOKUPS = frozenset({"regex", "iregex"})


class TenancyMixin:
    """For ModelAdmin and InlineModelAdmin alike (both are BaseModelAdmin)."""

    def get_queryset(self, request: HttpRequest) -> "QuerySet[Any]":
        # Every admin view reads through here: the changelist (and so search, filters, date
        # drill-down and bulk actions), get_object (change, delete, history and our own views)
        # and Django's autocomplete endpoint.
        queryset: QuerySet[Any] = super().get_queryset(request)  # type: ignore[misc]
        return tenancy.scope(queryset, user=request.user)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._scope_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._scope_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]

    def _scope_choices(self, db_field: Any, request: HttpRequest, kwargs: dict[str, Any]) -> None:
        """Choices (and so what a POST may name) limited to visible rows: a forged id of
        another account's row is then "not one of the available choices"."""
        model: type[Model] = db_field.remote_field.model
        if "queryset" in kwargs or not tenancy.is_scoped(model):
            return
        queryset = self.get_field_queryset(kwargs.get("using"), db_field, request)  # type: ignore[attr-defined]
        if queryset is None:
            queryset = model._default_manager.using(kwargs.get("using")).all()
        kwargs["queryset"] = tenancy.scope(queryset, user=request.user)


class VisibleAccountFilter(admin.RelatedFieldListFilter):
    """Rows by account; the choices are only the accounts the user may see (Django's own
    filter would list every account's name). Whatever account id the URL names, the list
    itself stays scoped (TenancyMixin), so another account's id finds nothing."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list[Any]:
        return [(a.pk, str(a)) for a in tenancy.visible_accounts(user=request.user).order_by("name", "pk")]


class PortalModelAdmin(TenancyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # The changelist accepts filters on any field from the URL; one on a secret would let
        # its row count reveal the secret a character at a time.
        if any(name in lookup for name in SECRET_FIELDS):
            return False
        # Django allows any lookup on a local field, JSON keys of an event's values included:
        # `?values__visitor_name__regex=` would let a user run patterns of their choosing on
        # PostgreSQL over every row. Nothing in the admin offers one; the URL may not either.
        if any(part in REGEX_LOOKUPS for part in lookup.split(LOOKUP_SEP)):
            return False
        return super().lookup_allowed(lookup, value, request)

    # Django checks the permission before it looks the object up, so another account's id
    # would get a 403 where the user lacks the permission and a redirect where they have it.
    # Looked up first, it is a 404 either way, like an id that does not exist.
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        self._404_unless_visible(request, object_id)
        # Django's "Change %s" ("Изменить операция") puts the name in the wrong case in Russian.
        title = (
            capfirst(self.opts.verbose_name)
            if object_id
            else gettext("New: %(name)s") % {"name": self.opts.verbose_name}
        )
        return super().changeform_view(request, object_id, form_url, {"title": title, **(extra_context or {})})

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # Likewise "Select %s to change" ("Выберите доставка для просмотра"): the plural alone.
        return super().changelist_view(
            request, {"title": capfirst(self.opts.verbose_name_plural), **(extra_context or {})}
        )

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        self._404_unless_visible(request, object_id)
        return super().delete_view(request, object_id, extra_context)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        self._404_unless_visible(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def _404_unless_visible(self, request: HttpRequest, object_id: str | None) -> None:
        if object_id is None or TO_FIELD_VAR in request.GET or TO_FIELD_VAR in request.POST:
            return  # an add, or a lookup by another field: Django validates that, then the hook below
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: Any, object_id: str) -> HttpResponse:
        # Django's answer to a missing object (a redirect with a message), where it is still reached.
        raise Http404


_BEFORE = "_audit_before"  # the stored state, kept on the form between save_model and save_related


class AuditedModelAdmin(PortalModelAdmin):
    """Admin of a configuration model: what a save, an inline's save or a delete changes goes
    to the audit log, with the user who did it."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Read before the save: the form has already put the new values on obj.
        setattr(form, _BEFORE, audit.stored_snapshot(obj) if change else None)
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Django's save_related, with the object recorded once its many-to-many (managers) are saved.
        form.save_m2m()
        audit.record_saved(actor=request.user, obj=form.instance, before=getattr(form, _BEFORE, None))
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        model: type[Model] = formset.model
        if not audit.is_audited(model):
            super().save_formset(request, form, formset, change)
            return
        before = audit.stored_snapshots(model, pks=(f.instance.pk for f in formset.initial_forms))
        # Deleted rows lose their ids in the save: recorded first, while they exist.
        deleted = [f.instance for f in formset.deleted_forms if f.instance.pk in before]
        audit.record_deletions(actor=request.user, objs=deleted)
        formset.save()
        for obj, _fields in formset.changed_objects:
            audit.record_saved(actor=request.user, obj=obj, before=before.get(obj.pk))
        for obj in formset.new_objects:
            audit.record_saved(actor=request.user, obj=obj, before=None)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit.record_deletions(actor=request.user, objs=[obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: "QuerySet[Any]") -> None:
        # The bulk "delete selected" action; the queryset is already scoped to the user's accounts.
        audit.record_deletions(actor=request.user, objs=list(queryset))
        super().delete_queryset(request, queryset)


class PortalTabularInline(TenancyMixin, admin.TabularInline):  # type: ignore[type-arg]
    pass


class PortalStackedInline(TenancyMixin, admin.StackedInline):  # type: ignore[type-arg]
    pass
