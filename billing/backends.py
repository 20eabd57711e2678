"""Session authentication that loads the member and its business with the
user: every page and socket of a member needs all three, in one query."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class MemberModelBackend(ModelBackend):
    """Django's `ModelBackend` (username and password, permissions), whose
    `get_user` (run once per request from the session) joins the user's
    `member` and its `business`: one query where the page then made three
    (user, member, business)."""

    def get_user(self, user_id):
        users = get_user_model()._default_manager.select_related("member__business")
        try:
            user = users.get(pk=user_id)
        except get_user_model().DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
