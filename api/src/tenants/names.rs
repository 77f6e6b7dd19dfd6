//! A caller's view of namespace names.
//!
//! The engine names a tenant's namespace `tenant/name`; the tenant itself says `name`. Every
//! front end turns the name a caller gave into the engine's with [`NsView::internal`] and back
//! with [`NsView::shown`], and passes errors through [`NsView::localize`], so a tenant never sees
//! the prefix — and a name holding a `/` (another tenant's, spelled out) is simply a name that
//! does not exist, with the very error a missing name of its own gets.

use std::borrow::Cow;
use std::sync::Arc;

use larder_runtime::tenant::{SEPARATOR, full_name, split};
use larder_runtime::{Namespace, NamespaceError, Namespaces};

use super::Tenant;
use crate::auth::Principal;

/// How one caller names namespaces: as the operator (every name as it is) or as a tenant.
#[derive(Debug, Clone, Default)]
pub struct NsView {
    tenant: Option<Arc<Tenant>>,
}

impl NsView {
    /// The view of `principal` (no principal: authentication is off, the operator's view).
    pub fn of(principal: Option<&Principal>) -> Self {
        Self {
            tenant: principal.and_then(|p| p.tenant.clone()),
        }
    }

    pub fn tenant(&self) -> Option<&Arc<Tenant>> {
        self.tenant.as_ref()
    }

    /// The tenant's name, when this is a tenant's view.
    pub fn tenant_name(&self) -> Option<&str> {
        self.tenant.as_deref().map(Tenant::name)
    }

    /// The engine's name for the namespace the caller calls `shown`.
    pub fn internal<'a>(&self, shown: &'a str) -> Result<Cow<'a, str>, NamespaceError> {
        match &self.tenant {
            None => Ok(Cow::Borrowed(shown)),
            Some(_) if shown.contains(SEPARATOR) => Err(NamespaceError::NotFound(shown.into())),
            Some(t) => Ok(Cow::Owned(full_name(t.name(), shown))),
        }
    }

    /// The engine's name for a namespace the caller is making. Unlike [`NsView::internal`], a
    /// `/` in a tenant's name is no lookup miss: the prefix goes on all the same, and the engine
    /// refuses the result as an invalid name (which [`NsView::localize`] then words as the
    /// tenant gave it).
    pub fn name_to_create(&self, shown: &str) -> String {
        match &self.tenant {
            None => shown.to_string(),
            Some(t) => full_name(t.name(), shown),
        }
    }

    /// What the caller calls the namespace the engine calls `internal`; `None` when it is not
    /// the caller's to see.
    pub fn shown<'a>(&self, internal: &'a str) -> Option<&'a str> {
        match &self.tenant {
            None => Some(internal),
            Some(t) => match split(internal) {
                (Some(owner), name) if owner == t.name() => Some(name),
                _ => None,
            },
        }
    }

    /// The namespace the caller calls `shown`.
    pub fn get(
        &self,
        namespaces: &Namespaces,
        shown: &str,
    ) -> Result<Arc<Namespace>, NamespaceError> {
        let internal = self.internal(shown)?;
        namespaces
            .get(&internal)
            .map_err(|e| localize(e, self.tenant_name()))
    }

    /// The namespaces the caller may see, sorted by name.
    pub fn list(&self, namespaces: &Namespaces) -> Vec<Arc<Namespace>> {
        match &self.tenant {
            None => namespaces.list(),
            Some(t) => namespaces.list_tenant(Some(t.name())),
        }
    }

    /// `err` as the caller names things.
    pub fn localize(&self, err: NamespaceError) -> NamespaceError {
        localize(err, self.tenant_name())
    }
}

/// `err` with `tenant`'s prefix taken off the names it holds (unchanged for `None`).
pub fn localize(err: NamespaceError, tenant: Option<&str>) -> NamespaceError {
    let Some(tenant) = tenant else {
        return err;
    };
    let strip = |name: String| -> String {
        match split(&name) {
            (Some(owner), own) if owner == tenant => own.to_string(),
            _ => name,
        }
    };
    match err {
        NamespaceError::NotFound(name) => NamespaceError::NotFound(strip(name)),
        NamespaceError::AlreadyExists(name) => NamespaceError::AlreadyExists(strip(name)),
        NamespaceError::ExperimentRunning { namespace, field } => {
            NamespaceError::ExperimentRunning {
                namespace: strip(namespace),
                field,
            }
        }
        NamespaceError::InvalidConfig { field, reason } => NamespaceError::InvalidConfig {
            field,
            reason: reason.replace(&format!("\"{tenant}{SEPARATOR}"), "\""),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenants::Tenants;
    use larder_runtime::tenant::TenantQuotas;

    #[test]
    fn a_tenant_sees_its_own_names_and_nothing_else() {
        let tenants = Tenants::default();
        let view = NsView {
            tenant: Some(tenants.create("acme", TenantQuotas::default()).unwrap()),
        };
        assert_eq!(view.internal("carts").unwrap(), "acme/carts");
        assert_eq!(
            view.internal("other/carts").unwrap_err(),
            NamespaceError::NotFound("other/carts".into())
        );
        assert_eq!(view.shown("acme/carts"), Some("carts"));
        assert_eq!(view.shown("other/carts"), None);
        assert_eq!(view.shown("default"), None, "the operator's namespaces too");
        assert_eq!(
            view.localize(NamespaceError::NotFound("acme/x".into())),
            NamespaceError::NotFound("x".into())
        );
        let operator = NsView::default();
        assert_eq!(operator.internal("acme/carts").unwrap(), "acme/carts");
        assert_eq!(operator.shown("acme/carts"), Some("acme/carts"));
    }
}
