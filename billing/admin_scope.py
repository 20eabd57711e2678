"""Django admin for business admins, scoped to their own business.

Who may use `/admin/` (`admin_access`):

- a superuser (the installation's operator): everything, every business;
- a member whose role is `admin`: their own business's rows only, with the
  permissions their role gives (`BusinessScopedAdmin.role_permissions`), not
  hand-assigned Django permissions;
- a member whose role is `agent`: nothing, whatever `is_staff` says (a demoted
  admin keeps `is_staff`; the role decides);
- a user who is no member (operator staff): Django's own rule, `is_staff` and
  the Django permissions the operator gave them.

The site itself (`PingBackAdminSite`, installed by
`pingback.admin_apps.PingBackAdminConfig` in place of `django.contrib.admin`)
asks `admin_access` instead of `is_staff`, so a business admin's access
follows their role wherever the role changes.

Every ModelAdmin registered for a business's data takes `BusinessScopedAdmin`
(inlines `BusinessScopedInline`), which scopes for a business admin: the
changelist and the objects reachable by URL (`get_queryset`: others answer
404), the choices of every foreign key and many-to-many field (a business's
rows only, `scoped_queryset`), the related-field list filters (only values
present in the scoped rows), the business set on add (`save_model`), and the
actions (they act on the scoped changelist). Models no business admin may
touch (users, groups) take `OperatorOnlyAdmin`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.http import Http404, HttpRequest

from billing.models import Business, Member

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"
ALL_PERMISSIONS = frozenset({VIEW, ADD, CHANGE, DELETE})

# Lookups from a model to its business, for models without a `business`
# foreign key (`scoped_queryset`); keyed by `app_label.ModelName`.
BUSINESS_LOOKUPS = {
    "billing.business": "pk",
    "billing.apitoken": "member__business",
    "billing.invitation": "member__business",
    "auth.user": "member__business",
    "channels_app.inboundevent": "channel__business",
    "conversations.contactidentity": "contact__business",
    "conversations.message": "conversation__business",
    "conversations.deliveryattempt": "message__conversation__business",
    "conversations.conversationlabel": "conversation__business",
    "conversations.mention": "conversation__business",
    "conversations.pendingreceipt": "channel__business",
    "contacts.contactlabel": "contact__business",
    "workspace.savedfilter": "member__business",
}


def member_of(user: Any) -> Member | None:
    """The user's membership, or None (anonymous users, operator staff)."""
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        return user.member
    except ObjectDoesNotExist:
        return None


def scoped_business(request: HttpRequest) -> Business | None:
    """The business whose rows the admin pages show `request.user`: their own
    when they are a member and not a superuser; None when unscoped (a
    superuser, or operator staff who are no member)."""
    user = request.user
    if user.is_superuser:
        return None
    member = member_of(user)
    return member.business if member is not None else None


def is_business_admin(user: Any) -> bool:
    """An active non-superuser member whose role is `admin`."""
    member = member_of(user)
    return bool(user.is_active and not user.is_superuser and member and member.is_admin)


def admin_access(user: Any) -> bool:
    """Whether `user` may use Django admin at all (see the module docstring)."""
    if not getattr(user, "is_active", False):
        return False
    if user.is_superuser:
        return True
    member = member_of(user)
    if member is not None:
        return member.is_admin
    return bool(user.is_staff)


def business_lookup(model: type[models.Model]) -> str | None:
    """The ORM lookup from `model` to its `Business` (`"business"`,
    `"member__business"`, ...), or None when rows of `model` belong to no
    business (a business admin then sees none of them)."""
    label = model._meta.label_lower
    if label in BUSINESS_LOOKUPS:
        return BUSINESS_LOOKUPS[label]
    try:
        field = model._meta.get_field("business")
    except FieldDoesNotExist:
        return None
    if field.is_relation and field.related_model is Business:
        return "business"
    return None


def scoped_queryset(
    queryset: models.QuerySet, business: Business | None
) -> models.QuerySet:
    """`queryset` limited to `business`'s rows (unchanged when `business` is
    None: unscoped); empty for a model that belongs to no business."""
    if business is None:
        return queryset
    lookup = business_lookup(queryset.model)
    if lookup is None:
        return queryset.none()
    return queryset.filter(**{lookup: business.pk})


def belongs_to(obj: models.Model, business: Business | None) -> bool:
    """Whether `obj` is one of `business`'s rows (always, when unscoped)."""
    if business is None or obj.pk is None:
        return True
    manager = type(obj)._default_manager
    return scoped_queryset(manager.filter(pk=obj.pk), business).exists()


class _Scoped:
    """Permissions, field choices and filters of `BusinessScopedAdmin` and
    `BusinessScopedInline` (see the module docstring)."""

    # What a business admin may do with this model's rows (their business's).
    role_permissions: frozenset[str] = ALL_PERMISSIONS
    # Fields a business admin sees but does not change (besides readonly_fields).
    role_readonly_fields: tuple[str, ...] = ()

    def _role_allows(self, request: HttpRequest, action: str, obj=None) -> bool:
        if not is_business_admin(request.user):
            return False
        if action not in self.role_permissions:
            return False
        return obj is None or belongs_to(obj, scoped_business(request))

    def _role_decides(self, request: HttpRequest) -> bool:
        """True when the role, not Django permissions, decides: any member who
        is not a superuser (an agent is refused everything)."""
        user = request.user
        return not user.is_superuser and member_of(user) is not None

    def has_view_permission(self, request, obj=None) -> bool:
        if self._role_decides(request):
            return self._role_allows(request, VIEW, obj) or self._role_allows(
                request, CHANGE, obj
            )
        return super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args) -> bool:
        if self._role_decides(request):
            return self._role_allows(request, ADD)
        return super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None) -> bool:
        if self._role_decides(request):
            return self._role_allows(request, CHANGE, obj)
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if self._role_decides(request):
            return self._role_allows(request, DELETE, obj)
        return super().has_delete_permission(request, obj)

    def get_queryset(self, request):
        return scoped_queryset(super().get_queryset(request), scoped_business(request))

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if is_business_admin(request.user):
            fields += [name for name in self.role_readonly_fields if name not in fields]
        return fields

    def _scope_choices(self, db_field, request, kwargs: dict) -> None:
        business = scoped_business(request)
        if business is None:
            return
        queryset = kwargs.get("queryset")
        if queryset is None:
            queryset = self.get_field_queryset(None, db_field, request)
        if queryset is None:
            queryset = db_field.remote_field.model._default_manager.all()
        kwargs["queryset"] = scoped_queryset(queryset, business)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        self._scope_choices(db_field, request, kwargs)
        related = self.admin_site._registry.get(db_field.remote_field.model)
        if (
            scoped_business(request) is not None
            and "widget" not in kwargs
            and db_field.name in self.raw_id_fields
            and (related is None or not related.has_view_permission(request))
        ):
            # The raw id's lookup would open a list they may not see (users):
            # a select of the scoped choices instead.
            kwargs["widget"] = forms.Select
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        self._scope_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class BusinessScopedAdmin(_Scoped, admin.ModelAdmin):
    """A ModelAdmin of a business's rows, scoped for business admins (module
    docstring). Subclasses set `role_permissions` (what a business admin may
    do: `view`, `add`, `change`, `delete`) and `role_readonly_fields`."""

    def has_module_permission(self, request) -> bool:
        if self._role_decides(request):
            return is_business_admin(request.user)
        return super().has_module_permission(request)

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if scoped_business(request) is None:
            return filters
        scoped = []
        for entry in filters:
            if not isinstance(entry, str) or "__" in entry:
                scoped.append(entry)
                continue
            field = self.model._meta.get_field(entry)
            if not field.is_relation:
                scoped.append(entry)
            elif field.related_model is not Business:
                # Only values the scoped rows hold: no other business's names.
                scoped.append((entry, admin.RelatedOnlyFieldListFilter))
        return scoped

    def get_object(self, request, object_id, from_field=None):
        """The object, from the scoped queryset; for a business admin another
        business's id (or an unknown one) answers 404 rather than Django's
        redirect, alike, so nothing tells them apart."""
        obj = super().get_object(request, object_id, from_field)
        if obj is None and scoped_business(request) is not None:
            raise Http404("No such object.")
        return obj

    def get_changeform_initial_data(self, request) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        business = scoped_business(request)
        if business is not None and business_lookup(self.model) == "business":
            initial.setdefault("business", business.pk)
        return initial

    def save_model(self, request, obj, form, change: bool) -> None:
        business = scoped_business(request)
        if business is not None and business_lookup(self.model) == "business":
            obj.business = business
        super().save_model(request, obj, form, change)


class BusinessScopedInline(_Scoped):
    """Mixin for an inline of a business's rows (put it before
    `admin.TabularInline`); its parent is scoped already."""


class OperatorOnlyAdmin:
    """Mixin for a ModelAdmin no member may use (users, groups): a member who
    is not a superuser is refused everything, whatever Django permissions they
    were given."""

    def _member(self, request) -> bool:
        return not request.user.is_superuser and member_of(request.user) is not None

    def has_module_permission(self, request) -> bool:
        return not self._member(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return not self._member(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        return not self._member(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return not self._member(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return not self._member(request) and super().has_delete_permission(request, obj)


# ------------------------------------------------------------------------ site


class PingBackAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin login form, admitting whom `admin_access` admits (business
    admins whatever `is_staff` says; not agents)."""

    def confirm_login_allowed(self, user) -> None:
        if not admin_access(user):
            raise forms.ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class PingBackAdminSite(admin.AdminSite):
    """Django admin whose door is `admin_access` (the member's role) instead
    of `is_staff`."""

    site_header = "PingBack administration"
    site_title = "PingBack admin"
    login_form = PingBackAdminAuthenticationForm

    def has_permission(self, request) -> bool:
        return admin_access(request.user)
