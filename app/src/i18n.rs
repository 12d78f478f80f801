//! A small hand-written translation table (Spanish by default, English on request).
//!
//! The language is chosen by the `lang` cookie so that the server renders the page in the language the
//! browser will hydrate with: the server writes it into `<html lang>`, and the client reads it back from
//! there at start-up, so the first client render always matches the server's HTML.

use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Es,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
        }
    }

    /// Accepts "es", "en", "en-US", "es_AR"…; anything else is `None`.
    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s == "es" || s.starts_with("es-") || s.starts_with("es_") {
            Some(Lang::Es)
        } else if s == "en" || s.starts_with("en-") || s.starts_with("en_") {
            Some(Lang::En)
        } else {
            None
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Es => Lang::En,
            Lang::En => Lang::Es,
        }
    }

    /// Reads `lang=xx` out of a `Cookie:` header or `document.cookie`.
    pub fn from_cookie_header(header: &str) -> Option<Lang> {
        header
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == "lang")
            .and_then(|(_, v)| Lang::parse(v))
    }
}

macro_rules! texts {
    ($($key:ident: $es:expr, $en:expr;)*) => {
        /// Every user-visible text of the app.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum T { $($key,)* }

        impl T {
            pub fn text(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((T::$key, Lang::Es) => $es, (T::$key, Lang::En) => $en,)*
                }
            }
        }
    };
}

texts! {
    AppName: "Mostrador", "Mostrador";
    Loading: "Cargando…", "Loading…";
    LoginTitle: "Iniciar sesión", "Sign in";
    LoginSubtitle: "Punto de venta y stock", "Point of sale and stock";
    Username: "Usuario", "Username";
    Password: "Contraseña", "Password";
    SignIn: "Entrar", "Sign in";
    SigningIn: "Entrando…", "Signing in…";
    InvalidCredentials: "Usuario o contraseña incorrectos.", "Wrong username or password.";
    TooManyAttempts: "Demasiados intentos. Espera {n} s y vuelve a intentarlo.", "Too many attempts. Wait {n} s and try again.";
    NetworkError: "No se pudo conectar con el servidor.", "Could not reach the server.";
    SessionCheckFailed: "No se pudo comprobar la sesión.", "Could not check your session.";
    Retry: "Reintentar", "Retry";
    Products: "Productos", "Products";
    Categories: "Categorías", "Categories";
    Customers: "Clientes", "Customers";
    Users: "Usuarios", "Users";
    Logout: "Salir", "Log out";
    MainNav: "Navegación principal", "Main navigation";
    SkipToContent: "Saltar al contenido", "Skip to content";
    SwitchLanguage: "Cambiar idioma a English", "Switch language to Español";
    Search: "Buscar", "Search";
    SearchProducts: "Nombre, SKU o código", "Name, SKU or barcode";
    SearchCategories: "Nombre o descripción", "Name or description";
    SearchCustomers: "Nombre, identificación, correo o teléfono", "Name, tax ID, email or phone";
    New: "Nuevo", "New";
    NoResults: "No hay resultados.", "Nothing found.";
    EmptyList: "Todavía no hay nada aquí.", "Nothing here yet.";
    Previous: "Anterior", "Previous";
    Next: "Siguiente", "Next";
    RangeOf: "{from}–{to} de {total}", "{from}–{to} of {total}";
    Sku: "SKU", "SKU";
    Name: "Nombre", "Name";
    Barcode: "Código de barras", "Barcode";
    Category: "Categoría", "Category";
    NoCategory: "Sin categoría", "No category";
    Price: "Precio de venta", "Sale price";
    Cost: "Costo", "Cost";
    Stock: "Stock", "Stock";
    LowStockThreshold: "Aviso de stock bajo", "Low-stock alert";
    LowStockHelp: "Avisar cuando queden estas unidades o menos.", "Warn when this many units or fewer are left.";
    StockHelp: "El stock cambia con ventas y movimientos.", "Stock changes through sales and movements.";
    Active: "Activo", "Active";
    Inactive: "Inactivo", "Inactive";
    LowStock: "Stock bajo", "Low stock";
    Description: "Descripción", "Description";
    TaxId: "Identificación fiscal", "Tax ID";
    Email: "Correo electrónico", "Email";
    Phone: "Teléfono", "Phone";
    Notes: "Notas", "Notes";
    Role: "Rol", "Role";
    Admin: "Administrador", "Administrator";
    Cashier: "Cajero", "Cashier";
    NewProduct: "Nuevo producto", "New product";
    EditProduct: "Editar producto", "Edit product";
    NewCategory: "Nueva categoría", "New category";
    EditCategory: "Editar categoría", "Edit category";
    NewCustomer: "Nuevo cliente", "New customer";
    EditCustomer: "Editar cliente", "Edit customer";
    Save: "Guardar", "Save";
    Saving: "Guardando…", "Saving…";
    Cancel: "Cancelar", "Cancel";
    Back: "Volver", "Back";
    Delete: "Eliminar", "Delete";
    Deleting: "Eliminando…", "Deleting…";
    ConfirmDelete: "¿Eliminar «{name}»?", "Delete “{name}”?";
    ConfirmDeleteHelp: "Dejará de aparecer en las listas y en las cajas.", "It will no longer appear in lists or at the tills.";
    Saved: "Guardado.", "Saved.";
    Deleted: "Eliminado.", "Deleted.";
    NoChanges: "No hay cambios que guardar.", "There is nothing to save.";
    Required: "Obligatorio.", "Required.";
    InvalidMoney: "Importe no válido (por ejemplo 12,50).", "Invalid amount (for example 12.50).";
    InvalidCount: "Debe ser un número entero, 0 o más.", "Must be a whole number, 0 or more.";
    FixFields: "Revisa los campos marcados.", "Please check the marked fields.";
    NotFound: "No encontrado.", "Not found.";
    PageNotFound: "Esta página no existe.", "This page does not exist.";
    GoToProducts: "Ir a productos", "Go to products";
    ConflictTitle: "Otra persona cambió este registro", "Someone else changed this record";
    ConflictHelp: "Tus cambios no se guardaron. Compara y elige qué conservar.", "Your changes were not saved. Compare and choose what to keep.";
    ConflictDeleteHelp: "Alguien lo cambió mientras tanto; el formulario muestra ahora lo que hay en el servidor.", "Someone changed it meanwhile; the form now shows what the server has.";
    Mine: "Lo mío", "Mine";
    OnServer: "En el servidor", "On the server";
    Yes: "Sí", "Yes";
    No: "No", "No";
    Empty: "(vacío)", "(empty)";
    Forbidden: "No tienes permiso para ver esta página.", "You don't have permission to see this page.";
    NewUser: "Nuevo usuario", "New user";
    Create: "Crear", "Create";
    NewPassword: "Nueva contraseña", "New password";
    SetPassword: "Cambiar contraseña", "Set password";
    PasswordChanged: "Contraseña cambiada.", "Password changed.";
    Activate: "Activar", "Activate";
    Deactivate: "Desactivar", "Deactivate";
    You: "tú", "you";
    Edit: "Editar", "Edit";
    Close: "Cerrar", "Close";
    UserCreated: "Usuario creado.", "User created.";
    DuplicateUsername: "Ese nombre de usuario ya existe.", "That username is taken.";
    DuplicateSku: "Ya hay un producto con ese SKU.", "Another product has that SKU.";
    LastAdmin: "Debe quedar al menos un administrador activo.", "There must be at least one active administrator.";
    // Offline: outbox, sync, sale screen
    Pending: "Pendientes de enviar", "Waiting to be sent";
    PendingNav: "Pendientes", "Pending";
    PendingBadge: "{n} pendientes de enviar", "{n} waiting to be sent";
    ConnOnline: "Conectado", "Online";
    ConnOffline: "Sin conexión", "Offline";
    ConnUnreachable: "Servidor no disponible", "Server unreachable";
    ConnChecking: "Comprobando conexión…", "Checking connection…";
    DataAgeNow: "datos al día", "data up to date";
    DataAgeMin: "datos de hace {n} min", "data from {n} min ago";
    DataAgeHours: "datos de hace {n} h", "data from {n} h ago";
    DataAgeDays: "datos de hace {n} días", "data from {n} days ago";
    DataNever: "todavía sin datos del servidor", "no data from the server yet";
    FirstDownload: "Descargando el catálogo…", "Downloading the catalog…";
    SendNow: "Enviar ahora", "Send now";
    SendingProgress: "Enviando {n} de {total}", "Sending {n} of {total}";
    StatePending: "Pendiente", "Pending";
    StateFailed: "Rechazado", "Rejected";
    StateConflict: "Conflicto", "Conflict";
    StateBlocked: "En espera", "Waiting";
    StateDone: "Enviado", "Sent";
    BlockedBy: "Espera a: {what}", "Waits for: {what}";
    WaitsForUser: "Lo envía {user} al iniciar sesión", "Sent when {user} signs in";
    NothingPending: "Nada pendiente: todo está enviado.", "Nothing pending: everything has been sent.";
    Discard: "Descartar", "Discard";
    DiscardConfirm: "¿Descartar? Esta operación no se enviará nunca.", "Discard? This operation will never be sent.";
    Discarded: "Descartado.", "Discarded.";
    ExportOutbox: "Exportar como JSON", "Export as JSON";
    Attempts: "intentos: {n}", "attempts: {n}";
    SavedOffline: "Guardado en este dispositivo; se enviará al volver la conexión.", "Saved on this device; it will be sent when the connection is back.";
    SavedRejected: "El servidor lo rechazó: revísalo en Pendientes.", "The server rejected it: see Pending.";
    KeepMine: "Mantener lo mío", "Keep mine";
    TakeServer: "Usar lo del servidor", "Take the server's";
    ApplyChoice: "Aplicar mi elección", "Apply my choice";
    Theirs: "Servidor", "Server";
    Field: "Campo", "Field";
    OpCreate: "Alta", "New";
    OpUpdate: "Cambio", "Change";
    OpDelete: "Baja", "Delete";
    OpClose: "Cierre", "Close";
    TableSales: "Venta", "Sale";
    TableCashSessions: "Caja", "Till";
    TableProducts: "Producto", "Product";
    TableCategories: "Categoría", "Category";
    TableCustomers: "Cliente", "Customer";
    TableOther: "Operación", "Operation";
    Sell: "Vender", "Sell";
    TodaySales: "Ventas de hoy", "Today's sales";
    NoSalesToday: "Todavía no hay ventas hoy.", "No sales today yet.";
    SearchToAdd: "Buscar producto por nombre, SKU o código", "Search product by name, SKU or barcode";
    Cart: "Venta actual", "Current sale";
    EmptyCart: "Busca un producto y agrégalo.", "Search for a product and add it.";
    Add: "Agregar", "Add";
    Remove: "Quitar", "Remove";
    Quantity: "Cantidad", "Quantity";
    Less: "Uno menos", "One less";
    More: "Uno más", "One more";
    Total: "Total", "Total";
    CustomerOptional: "Cliente (opcional)", "Customer (optional)";
    NoCustomer: "Sin cliente", "No customer";
    NewCustomerName: "O cliente nuevo (nombre)", "Or new customer (name)";
    CashReceived: "Efectivo recibido", "Cash received";
    Change: "Vuelto", "Change";
    Charge: "Cobrar", "Charge";
    SaleSaved: "Venta registrada.", "Sale recorded.";
    NotEnoughPaid: "Lo recibido no alcanza para el total.", "The amount received does not cover the total.";
    CashClosed: "No hay caja abierta.", "No till is open.";
    OpenCash: "Abrir caja", "Open till";
    OpeningFloat: "Fondo inicial", "Opening float";
    Register: "Caja", "Till";
    CloseCash: "Cerrar caja", "Close till";
    CountedCash: "Efectivo contado", "Counted cash";
    ExpectedCash: "Efectivo esperado", "Expected cash";
    CashOpenSince: "{register}: abierta", "{register}: open";
    CloseBlocked: "No se puede cerrar: hay {n} operaciones de esta caja sin enviar.", "Cannot close: {n} operations of this till have not been sent yet.";
    Items: "artículos", "items";
    Settings: "Ajustes", "Settings";
    StorageTitle: "Almacenamiento en este dispositivo", "Storage on this device";
    StorageUsage: "Usado: {used} de {quota}", "Used: {used} of {quota}";
    StoragePersistent: "Almacenamiento persistente: el navegador no borrará estos datos.", "Persistent storage: the browser will not evict this data.";
    StorageNotPersistent: "El navegador podría borrar los datos de este dispositivo si le falta espacio. Instala la app para evitarlo.", "The browser may evict this device's data when space runs low. Install the app to prevent it.";
    Language: "Idioma", "Language";
    Backups: "Copias de seguridad", "Backups";
    Administration: "Administración", "Administration";
    UnknownError: "Algo salió mal.", "Something went wrong.";
    // PWA shell
    UpdateAvailable: "Nueva versión disponible — recargar", "New version available — reload";
    Updating: "Actualizando…", "Updating…";
}

/// The language signal every component reads (through [`use_i18n`]).
#[derive(Clone, Copy)]
pub struct I18n {
    pub lang: RwSignal<Lang>,
}

impl I18n {
    /// The text in the current language; reactive when called inside a closure in a view.
    pub fn t(self, key: T) -> &'static str {
        key.text(self.lang.get())
    }

    pub fn set(self, lang: Lang) {
        self.lang.set(lang);
        persist(lang);
    }
}

pub fn use_i18n() -> I18n {
    expect_context::<I18n>()
}

/// The language of this render. On the server: the request's `lang` cookie. In the browser: the `<html lang>`
/// that the server wrote, so hydration sees exactly the texts the server rendered.
pub fn initial_lang() -> Lang {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>()
            .and_then(|parts| {
                parts
                    .headers
                    .get_all(http::header::COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(Lang::from_cookie_header)
            })
            .unwrap_or_default()
    }
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
            .and_then(|e| e.get_attribute("lang"))
            .and_then(|l| Lang::parse(&l))
            .unwrap_or_default()
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        Lang::default()
    }
}

/// The language saved in localStorage (the cookie may have been cleared while localStorage stayed).
pub fn stored_lang() -> Option<Lang> {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| w.local_storage().ok().flatten())
            .and_then(|s| s.get_item("lang").ok().flatten())
            .and_then(|l| Lang::parse(&l))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        None
    }
}

/// Remembers the choice in localStorage and in the `lang` cookie (for the server's next render), and
/// updates `<html lang>` for screen readers.
fn persist(lang: Lang) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(window) = web_sys::window() else {
            return;
        };
        if let Ok(Some(storage)) = window.local_storage() {
            let _ = storage.set_item("lang", lang.code());
        }
        if let Some(doc) = window.document() {
            if let Some(el) = doc.document_element() {
                let _ = el.set_attribute("lang", lang.code());
            }
            if let Ok(html) = doc.dyn_into::<web_sys::HtmlDocument>() {
                let _ = html.set_cookie(&format!(
                    "lang={}; Path=/; Max-Age=31536000; SameSite=Lax",
                    lang.code()
                ));
            }
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = lang;
}

/// Fills `{name}` placeholders.
pub fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in args {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_parsing() {
        assert_eq!(
            Lang::from_cookie_header("a=1; lang=en; b=2"),
            Some(Lang::En)
        );
        assert_eq!(Lang::from_cookie_header("lang=es"), Some(Lang::Es));
        assert_eq!(Lang::from_cookie_header("xlang=en"), None);
        assert_eq!(Lang::from_cookie_header("lang=fr"), None);
        assert_eq!(Lang::from_cookie_header(""), None);
    }

    #[test]
    fn fill_placeholders() {
        assert_eq!(
            fill(
                "{from}–{to} de {total}",
                &[("from", "1"), ("to", "20"), ("total", "45")]
            ),
            "1–20 de 45"
        );
    }
}
