"""Who is looking at the console, what they may see, and the numbers as they may see them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import abort, g, redirect, request, session, url_for

from app.extensions import store
from app.logs import scrub
from routing import tenants
from routing.errors import NotFound
from routing.phone import mask

NO_PAGE = "There is no such page in the console."  # also what a page that is not the viewer's to see says


@dataclass(frozen=True)
class Viewer:
    """A logged-in tenant (`auth_id`), or an operator (`operator`, who sees every tenant and no real number)."""

    auth_id: str = ""
    operator: bool = False

    def may_see(self, auth_id: str) -> bool:
        """Return whether the tenant `auth_id`'s pages are this viewer's to see."""
        return self.operator or (bool(self.auth_id) and auth_id == self.auth_id)

    def owns(self, auth_id: str) -> bool:
        """Return whether the viewer is the tenant `auth_id` itself: the only one shown its real numbers."""
        return bool(self.auth_id) and auth_id == self.auth_id


def current_viewer() -> Viewer | None:
    """Return who this request's console login is, or None when nobody is logged in."""
    if session.get("operator") is True:
        return Viewer(operator=True)
    auth_id = session.get("auth_id")
    return Viewer(auth_id=auth_id) if isinstance(auth_id, str) and auth_id else None


def log_in(viewer: Viewer) -> None:
    """Start a new console login for `viewer`, dropping whatever the cookie held before (a fixed session)."""
    session.clear()
    session.permanent = True
    if viewer.operator:
        session["operator"] = True
    else:
        session["auth_id"] = viewer.auth_id


def logged_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send a visitor who is not logged in to the login page (back here after); set `g.viewer`."""

    @wraps(view)
    def wrapped(**kwargs: Any) -> Any:
        viewer = current_viewer()
        if viewer is None:
            return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
        g.viewer = viewer
        return view(**kwargs)

    return wrapped


def tenant_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """Serve a page of the tenant in the path (`auth_id`) only to that tenant or an operator: to anyone else it is
    not found, as another tenant's session is on the API. Sets `g.viewer` and `g.tenant`."""

    @logged_in
    @wraps(view)
    def wrapped(auth_id: str, **kwargs: Any) -> Any:
        if not g.viewer.may_see(auth_id):
            abort(404, NO_PAGE)
        try:
            g.tenant = tenants.get_tenant(store(), auth_id)
        except NotFound:
            abort(404, NO_PAGE)
        return view(**kwargs)

    return wrapped


def operator_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """Serve a page to operators only (to a tenant it is not found)."""

    @logged_in
    @wraps(view)
    def wrapped(**kwargs: Any) -> Any:
        if not g.viewer.operator:
            abort(404, NO_PAGE)
        return view(**kwargs)

    return wrapped


def shown_number(e164: str) -> str:
    """Return a phone number of the page's tenant as the viewer may see it: whole to the tenant, else masked."""
    if not e164 or g.viewer.owns(g.tenant.auth_id):
        return e164
    return mask(e164)


def shown_text(text: str) -> str:
    """Return a text of the page's tenant (an event's field) as the viewer may see it: to anyone but the tenant, with
    phone numbers masked and credentials blanked, as the logs write them."""
    return text if g.viewer.owns(g.tenant.auth_id) else scrub(text)
