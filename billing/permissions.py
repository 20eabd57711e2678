"""API permission: the caller is a member of a business."""

from rest_framework.permissions import BasePermission

from billing.models import Business, Member


def member_of(user) -> Member | None:
    """Return the `Member` row of `user`, or None for anonymous or non-members."""
    if user is None or not user.is_authenticated:
        return None
    try:
        return user.member
    except Member.DoesNotExist:
        return None


def business_of(request) -> Business:
    """Return the business the authenticated caller acts for (call after
    `IsBusinessMember` has passed)."""
    return request.user.member.business


class IsBusinessMember(BasePermission):
    """Allow members of a business (agents and admins); others get 401/403."""

    def has_permission(self, request, view) -> bool:
        return member_of(request.user) is not None


class IsBusinessAdmin(BasePermission):
    """Allow only a business's admins (channel configuration)."""

    message = "Only a business admin may manage channels."

    def has_permission(self, request, view) -> bool:
        member = member_of(request.user)
        return member is not None and member.is_admin
