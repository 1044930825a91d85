"""Users and API keys, for admins only. A new API key is shown once; only its hash is kept."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.admin.forms import ApiKeyForm, NewUserForm, PasswordForm, SitesForm, UserForm
from app.auth import service
from app.auth.access import role_required, signed_in_actor
from app.auth.models import ApiKey, User
from app.extensions import db
from app.formats import years_and_days
from app.forms import ActionForm, chosen_id, form_page, put_problems_on_fields, record_or_404
from app.history import access_log
from app.history.changes import history_of
from app.history.models import RecordChange
from app.people import staff
from app.people.models import Site
from app.people.search import patient_names, patient_with_identifier
from app.validation import Rejected, parse_int

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _draft(form: UserForm) -> service.UserDraft:
    return service.UserDraft(
        email=form.email.data,
        first_name=form.first_name.data,
        last_name=form.last_name.data,
        role=form.role.data or None,
    )


@bp.get("/users/")
@role_required()
def list_users():
    users = db.session.scalars(
        select(User).order_by(User.active.desc(), User.last_name, User.first_name)
    ).all()
    sites = staff.sites_of_users([u.id for u in users])
    return render_template("admin/users.html", users=users, sites=sites)


@bp.route("/users/new", methods=["GET", "POST"])
@role_required()
def new_user():
    form = NewUserForm()
    return form_page(
        form,
        "admin/user_form.html",
        save=lambda: service.create_user(_draft(form), form.password.data, signed_in_actor()),
        done=lambda u: (
            f"{u.full_name} can now sign in as {u.role}.",
            url_for("admin.show_user", user_id=u.id),
        ),
        clear=["password"],
        user=None,
    )


def _user_page(user: User, password_form=None, sites_form=None, status: int = 200):
    """The user's page, with a form sent back as it was (and its problems) when refused."""
    works_for = staff.sites_of(user.id)
    if sites_form is None:
        sites_form = SitesForm(formdata=None, data={"sites": [str(s.id) for s in works_for]})
    page = render_template(
        "admin/user.html",
        user=user,
        works_for=works_for,
        history=history_of("user", user.id),
        password_form=password_form or PasswordForm(),
        sites_form=sites_form.choose_from(
            db.session.execute(select(Site.id, Site.name, Site.active).order_by(Site.name))
        ),
        action_form=ActionForm(),
    )
    return page, status


@bp.get("/users/<int:user_id>")
@role_required()
def show_user(user_id: int):
    return _user_page(record_or_404(User, user_id))


@bp.post("/users/<int:user_id>/sites")
@role_required()
def set_user_sites(user_id: int):
    """Which sites the user works for: a coordinator's dashboard shows those sites' figures."""
    user = record_or_404(User, user_id)
    form = SitesForm()  # CSRFProtect has checked its token; the service checks the sites
    try:
        chosen = staff.set_sites(
            user_id, [chosen_id(v) for v in form.sites.data or []], signed_in_actor()
        )
    except Rejected as rejected:
        put_problems_on_fields(form, rejected.problems)
        return _user_page(user, sites_form=form, status=422)
    named = ", ".join(s.name for s in chosen)
    flash(
        f"{user.full_name} works for {named}."
        if chosen
        else f"{user.full_name} works for no site.",
        "success",
    )
    return redirect(url_for("admin.show_user", user_id=user_id) + "#sites-heading", code=303)


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@role_required()
def edit_user(user_id: int):
    user = record_or_404(User, user_id)
    if request.method == "GET":
        form = UserForm(
            data={
                "email": user.email,
                "first_name": user.first_name,
                "last_name": user.last_name,
                "role": user.role,
            }
        )
    else:
        form = UserForm()
    return form_page(
        form,
        "admin/user_form.html",
        save=lambda: service.update_user(user_id, _draft(form), signed_in_actor()),
        done=lambda u: ("Changes saved.", url_for("admin.show_user", user_id=u.id)),
        user=user,
    )


@bp.post("/users/<int:user_id>/password")
@role_required()
def reset_password(user_id: int):
    user = record_or_404(User, user_id)
    form = PasswordForm()
    try:
        service.reset_password(user_id, form.password.data, signed_in_actor())
    except Rejected as rejected:
        put_problems_on_fields(form, rejected.problems)
        form.password.data = ""
        return _user_page(user, password_form=form, status=422)
    flash(f"Password changed; {user.first_name} is signed out everywhere.", "success")
    return redirect(url_for("admin.show_user", user_id=user_id), code=303)


@bp.post("/users/<int:user_id>/deactivate")
@role_required()
def deactivate_user(user_id: int):
    return _set_active(user_id, False)


@bp.post("/users/<int:user_id>/sign-out-everywhere")
@role_required()
def sign_out_user_everywhere(user_id: int):
    user = record_or_404(User, user_id)
    service.sign_out_everywhere(user_id, signed_in_actor())
    flash(f"{user.full_name} is signed out everywhere.", "success")
    return redirect(url_for("admin.show_user", user_id=user_id), code=303)


@bp.post("/users/<int:user_id>/activate")
@role_required()
def activate_user(user_id: int):
    return _set_active(user_id, True)


def _set_active(user_id: int, active: bool):
    record_or_404(User, user_id)
    try:
        service.set_user_active(user_id, active, signed_in_actor())
    except Rejected as rejected:
        flash(rejected.problems[0].message, "error")
    else:
        flash("User activated." if active else "User deactivated and signed out.", "info")
    return redirect(url_for("admin.show_user", user_id=user_id), code=303)


# --- API keys ----------------------------------------------------------------------------


@bp.route("/api-keys/", methods=["GET", "POST"])
@role_required()
def api_keys():
    form = ApiKeyForm()
    new_key = None
    status = 200
    if request.method == "POST":
        try:
            api_key, new_key = service.create_api_key(
                form.name.data, form.scopes.data, signed_in_actor()
            )
        except Rejected as rejected:
            put_problems_on_fields(form, rejected.problems)
            status = 422
        else:
            form = ApiKeyForm(formdata=None)
    keys = db.session.scalars(
        select(ApiKey)
        .options(joinedload(ApiKey.created_by))
        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.id.desc())
    ).all()
    history = db.session.scalars(
        select(RecordChange)
        .where(RecordChange.record_type == "apiKey")
        .options(joinedload(RecordChange.actor_user), joinedload(RecordChange.actor_api_key))
        .order_by(RecordChange.id.desc())
        .limit(50)
    ).all()
    names = {k.id: k.name for k in keys}
    response = render_template(
        "admin/api_keys.html",
        form=form,
        keys=keys,
        new_key=new_key,
        action_form=ActionForm(),
        history=history,
        key_names=names,
    )
    return response, status


@bp.post("/api-keys/<int:key_id>/revoke")
@role_required()
def revoke_api_key(key_id: int):
    """Asks first, naming the key (the button is one click from a working integration's
    end); revokes when the answer says so."""
    if request.form.get("confirm") != "yes":
        key = record_or_404(ApiKey, key_id)
        return render_template("admin/api_key_revoke.html", key=key, action_form=ActionForm())
    try:
        key = service.revoke_api_key(key_id, signed_in_actor())
    except Rejected:
        abort(404)
    flash(f"API key “{key.name}” revoked: requests with it are refused from now on.", "info")
    return redirect(url_for("admin.api_keys"), code=303)


@bp.get("/phi-access/")
@role_required()
def phi_access():
    """The PHI access log, newest first, a row per visit (see history.access_log), filtered
    by patient (an MRN typed, or the id of a row's link) and/or by person or API key."""
    mrn = request.args.get("mrn", "").strip()
    patient, patient_id = None, None
    if mrn:
        patient = patient_with_identifier(mrn)
        patient_id = patient.id if patient else None
    elif patient_id := parse_int(request.args.get("patient", "").strip()):
        # The log outlives what it names: an id no patient has still filters.
        patient = patient_names({patient_id}).get(patient_id)
    person = request.args.get("person", "")
    kind, _, ident = person.partition(":")
    person_id = parse_int(ident)
    user_id = person_id if kind == "user" else None
    api_key_id = person_id if kind == "key" else None
    before = parse_int(request.args.get("before", ""))
    unknown = bool(mrn) and patient is None
    page = (
        access_log.VisitPage([], None)
        if unknown
        else access_log.visits(patient_id, user_id, api_key_id, before)
    )
    return render_template(
        "admin/phi_access.html",
        page=page,
        patients=patient_names({v.patient_id for v in page.visits}),
        patient=patient,
        patient_id=patient_id,
        mrn=patient.external_identifier if patient else mrn,
        unknown=unknown,
        person=person,
        retention=years_and_days(current_app.config["PHI_ACCESS_RETENTION_DAYS"]),
        visit_gap_minutes=int(access_log.VISIT_GAP.total_seconds() // 60),
        users=db.session.scalars(select(User).order_by(User.last_name, User.first_name)).all(),
        keys=db.session.scalars(select(ApiKey).order_by(ApiKey.name)).all(),
    )
