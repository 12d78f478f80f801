//! /users (admins): list, create, change role, activate/deactivate, set a new password.

use std::collections::HashMap;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use uuid::Uuid;

use crate::api::{self, ApiError};
use crate::components::form::Msg;
use crate::components::icons::Icon;
use crate::components::{use_session, use_toast, Session};
use crate::i18n::{use_i18n, Key, Lang};
use crate::model::{NewUser, Role, User, UserChanges};

fn role_label(role: Role) -> Key {
    match role {
        Role::Admin => "admin",
        Role::Cashier => "cashier",
    }
}

/// Field errors of a failed user call, keyed by input name; anything else as a general message.
fn user_errors(e: &ApiError, session: Session, lang: Lang) -> (HashMap<String, Msg>, Option<Msg>) {
    if e.is_unauthorized() {
        session.expired();
        return (HashMap::new(), None);
    }
    match e.code.as_str() {
        "duplicate_username" => {
            return (HashMap::from([("username".to_string(), Msg::T("duplicate_username"))]), None);
        }
        "last_admin" => return (HashMap::new(), Some(Msg::T("last_admin"))),
        _ => {}
    }
    let fields: HashMap<String, Msg> = e.field_errors().into_iter().map(|(k, m)| (k, Msg::Text(m))).collect();
    if fields.is_empty() {
        (fields, Some(Msg::Text(e.describe(lang))))
    } else {
        (fields, Some(Msg::T("fix_fields")))
    }
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    view! {
        <Title text=move || i18n.t("users").to_string()/>
        <Show
            when=move || session.is_admin()
            fallback=move || view! { <p class="panel center" data-testid="forbidden">{move || i18n.t("forbidden")}</p> }
        >
            <UsersAdmin/>
        </Show>
    }
    .into_any()
}

#[component]
fn UsersAdmin() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let creating = RwSignal::new(false);
    // Loaded in the browser (the list needs the session); Transition keeps the list on screen while
    // it is fetched again after a new user, ErrorBoundary shows a failed load with a retry.
    let users = LocalResource::new(move || async move {
        let r = api::list_users().await.map(|p| p.items);
        if matches!(&r, Err(e) if e.is_unauthorized()) {
            session.expired();
        }
        r
    });

    let failed = move |errors: ArcRwSignal<Errors>| {
        let message = move || {
            errors.with(|es| {
                es.iter()
                    .next()
                    .map(|(_, e)| match e.downcast_ref::<ApiError>() {
                        Some(api) => api.describe(i18n.lang.get()),
                        None => e.to_string(),
                    })
                    .unwrap_or_default()
            })
        };
        view! {
            <div class="panel center" role="alert">
                <p>{message}</p>
                <button type="button" class="btn" on:click=move |_| users.refetch()>
                    {move || i18n.t("retry")}
                </button>
            </div>
        }
    };
    let list = view! {
        <Transition fallback=move || view! { <p class="loading" data-testid="loading">{move || i18n.t("loading")}</p> }>
            <ErrorBoundary fallback=failed>
                {move || users.get().map(|r| r.map(|list| view! {
                    <ul class="rows users" data-testid="user-list">
                        <For each=move || list.clone() key=|u| u.id children=move |u| view! { <UserCard user=u/> }/>
                    </ul>
                }))}
            </ErrorBoundary>
        </Transition>
    };

    view! {
        <section class="page">
            <header class="page-head">
                <h1>{move || i18n.t("users")}</h1>
                <button
                    type="button"
                    class="btn primary"
                    data-testid="new-user"
                    aria-expanded=move || creating.get().to_string()
                    on:click=move |_| creating.update(|c| *c = !*c)
                >
                    <Icon name="plus"/>
                    <span>{move || i18n.t("new")}</span>
                </button>
            </header>
            <Show when=move || creating.get()>
                <NewUserForm on_created=Callback::new(move |()| users.refetch()) creating=creating/>
            </Show>
            {list}
        </section>
    }
    .into_any()
}

#[component]
fn NewUserForm(on_created: Callback<()>, creating: RwSignal<bool>) -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let toast = use_toast();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Cashier);
    let errors = RwSignal::new(HashMap::<String, Msg>::new());
    let banner = RwSignal::new(None::<Msg>);
    // Submitting is an action: `pending` disables the button, and its value is the server's answer.
    let create = Action::new_local(|new: &NewUser| {
        let new = new.clone();
        async move { api::create_user(&new).await }
    });
    let busy = create.pending();
    Effect::new(move || match create.value().get() {
        Some(Ok(_)) => {
            on_created.run(());
            toast.show("user_created");
            creating.set(false);
        }
        Some(Err(e)) => {
            let (fields, msg) = user_errors(&e, session, i18n.lang.get_untracked());
            errors.set(fields);
            banner.set(msg);
        }
        None => {}
    });

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let new = NewUser {
            username: username.get_untracked().trim().to_string(),
            password: password.get_untracked(),
            role: role.get_untracked(),
        };
        let mut missing = HashMap::new();
        if new.username.is_empty() {
            missing.insert("username".to_string(), Msg::T("required"));
        }
        if new.password.is_empty() {
            missing.insert("password".to_string(), Msg::T("required"));
        }
        errors.set(missing.clone());
        if !missing.is_empty() {
            return;
        }
        banner.set(None);
        create.dispatch_local(new);
    };

    let error = move |key: &'static str| {
        move || {
            errors.with(|m| m.get(key).map(|m| m.show(i18n.lang.get()))).map(|text| {
                view! { <p class="field-error" data-testid=format!("error-{key}")>{text}</p> }
            })
        }
    };

    view! {
        <form class="card form" method="post" data-testid="user-create-form" on:submit=on_submit>
            <h2>{move || i18n.t("new_user")}</h2>
            {move || banner.get().map(|m| view! { <p class="banner" role="alert">{m.show(i18n.lang.get())}</p> })}
            <div class="fields">
                <div class="field">
                    <label for="new-username">{move || i18n.t("username")}</label>
                    <input
                        id="new-username"
                        name="username"
                        type="text"
                        autocomplete="off"
                        autocapitalize="none"
                        spellcheck="false"
                        required
                        prop:value=username
                        on:input=move |ev| username.set(event_target_value(&ev))
                    />
                    {error("username")}
                </div>
                <div class="field">
                    <label for="new-password">{move || i18n.t("password")}</label>
                    <input
                        id="new-password"
                        name="password"
                        type="password"
                        autocomplete="new-password"
                        required
                        prop:value=password
                        on:input=move |ev| password.set(event_target_value(&ev))
                    />
                    {error("password")}
                </div>
                <div class="field">
                    <label for="new-role">{move || i18n.t("role")}</label>
                    <select
                        id="new-role"
                        name="role"
                        on:change=move |ev| {
                            if let Some(r) = Role::parse(&event_target_value(&ev)) {
                                role.set(r);
                            }
                        }
                    >
                        <option value="cashier" prop:selected=move || role.get() == Role::Cashier>
                            {move || i18n.t("cashier")}
                        </option>
                        <option value="admin" prop:selected=move || role.get() == Role::Admin>
                            {move || i18n.t("admin")}
                        </option>
                    </select>
                    {error("role")}
                </div>
            </div>
            <div class="actions">
                <button type="submit" class="btn primary" data-testid="create-user" disabled=busy>
                    {move || i18n.t(if busy.get() { "saving" } else { "create" })}
                </button>
                <button type="button" class="btn" on:click=move |_| creating.set(false)>
                    {move || i18n.t("cancel")}
                </button>
            </div>
        </form>
    }
    .into_any()
}

#[component]
fn UserCard(user: User) -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let toast = use_toast();
    let id: Uuid = user.id;
    let is_me = session.user.with_untracked(|u| u.as_ref().is_some_and(|u| u.id == id));
    let username = user.username.clone();
    let user = RwSignal::new(user);
    let editing = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<(bool, Msg)>);
    let new_password = RwSignal::new(String::new());

    let apply = move |changes: UserChanges, done: Key| {
        busy.set(true);
        message.set(None);
        spawn_local(async move {
            match api::update_user(id, &changes).await {
                Ok(u) => {
                    busy.set(false);
                    if is_me {
                        session.user.set(Some(u.clone()));
                    }
                    user.set(u);
                    new_password.set(String::new());
                    toast.show(done);
                }
                Err(e) => {
                    busy.set(false);
                    // Put the controls back to what the server still has.
                    user.update(|_| {});
                    let (fields, msg) = user_errors(&e, session, i18n.lang.get_untracked());
                    let msg = msg.or_else(|| fields.into_values().next());
                    if let Some(m) = msg {
                        message.set(Some((false, m)));
                    }
                }
            }
        });
    };

    let on_password = move |ev: SubmitEvent| {
        ev.prevent_default();
        let password = new_password.get_untracked();
        if password.is_empty() {
            message.set(Some((false, Msg::T("required"))));
            return;
        }
        apply(UserChanges { password: Some(password), ..Default::default() }, "password_changed");
    };

    let role_id = format!("role-{id}");
    let password_id = format!("password-{id}");
    let initial = username.chars().next().map(|c| c.to_uppercase().to_string()).unwrap_or_default();

    view! {
        <li class="card user-card" data-testid="user-row" data-username=username.clone()>
            <div class="user-head">
                <span class="avatar" aria-hidden="true">{initial}</span>
                <div class="row-main">
                    <span class="row-title">
                        {username.clone()}
                        {is_me.then(|| view! { <span class="muted">{move || format!(" ({})", i18n.t("you"))}</span> })}
                    </span>
                    <span class="row-sub">
                        <span class="badge" data-testid="user-role-badge">
                            {move || i18n.t(role_label(user.with(|u| u.role)))}
                        </span>
                        {move || {
                            (!user.with(|u| u.active))
                                .then(|| view! { <span class="badge muted">{i18n.t("inactive")}</span> })
                        }}
                    </span>
                </div>
                <button
                    type="button"
                    class="btn ghost"
                    data-testid="edit-user"
                    aria-expanded=move || editing.get().to_string()
                    on:click=move |_| editing.update(|e| *e = !*e)
                >
                    {move || i18n.t(if editing.get() { "close" } else { "edit" })}
                </button>
            </div>
            <Show when=move || editing.get()>
                <div class="user-edit">
                    <div class="field">
                        <label for=role_id.clone()>{move || i18n.t("role")}</label>
                        <select
                            id=role_id.clone()
                            name="role"
                            data-testid="user-role"
                            disabled=busy
                            on:change=move |ev| {
                                if let Some(r) = Role::parse(&event_target_value(&ev)) {
                                    apply(UserChanges { role: Some(r), ..Default::default() }, "saved");
                                }
                            }
                        >
                            <option value="cashier" prop:selected=move || user.with(|u| u.role == Role::Cashier)>
                                {move || i18n.t("cashier")}
                            </option>
                            <option value="admin" prop:selected=move || user.with(|u| u.role == Role::Admin)>
                                {move || i18n.t("admin")}
                            </option>
                        </select>
                    </div>
                    <div class="field">
                        <span class="label">{move || i18n.t("active")}</span>
                        <button
                            type="button"
                            class="btn"
                            data-testid="toggle-active"
                            disabled=busy
                            on:click=move |_| {
                                let active = !user.with_untracked(|u| u.active);
                                apply(UserChanges { active: Some(active), ..Default::default() }, "saved");
                            }
                        >
                            {move || i18n.t(if user.with(|u| u.active) { "deactivate" } else { "activate" })}
                        </button>
                    </div>
                    <form class="field wide password-form" method="post" on:submit=on_password>
                        <label for=password_id.clone()>{move || i18n.t("new_password")}</label>
                        <div class="inline">
                            <input
                                id=password_id.clone()
                                name="new_password"
                                type="password"
                                autocomplete="new-password"
                                prop:value=new_password
                                on:input=move |ev| new_password.set(event_target_value(&ev))
                            />
                            <button type="submit" class="btn" data-testid="set-password" disabled=busy>
                                {move || i18n.t("set_password")}
                            </button>
                        </div>
                    </form>
                </div>
            </Show>
            {move || {
                message
                    .get()
                    .map(|(ok, m)| {
                        view! {
                            <p class=if ok { "note ok" } else { "banner" } role="alert" data-testid="user-message">
                                {m.show(i18n.lang.get())}
                            </p>
                        }
                    })
            }}
        </li>
    }
    .into_any()
}
