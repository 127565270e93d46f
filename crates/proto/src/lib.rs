//! The public gRPC contract of reemploi, generated from `proto/`: messages,
//! clients and servers of every service, and the descriptor set that servers
//! expose through reflection.

/// Encoded `FileDescriptorSet` of every reemploi proto file, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/reemploi_descriptor.bin"));

/// The generated code, laid out as the proto packages are (prost refers
/// across packages by relative paths).
#[allow(
    missing_docs,
    clippy::large_enum_variant,
    clippy::doc_lazy_continuation
)]
pub mod reemploi {
    pub mod r#type {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/reemploi.r#type.v1.rs"));
        }
    }
    pub mod inventory {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/reemploi.inventory.v1.rs"));
        }
    }
    pub mod registry {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/reemploi.registry.v1.rs"));
        }
    }
    pub mod matching {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/reemploi.matching.v1.rs"));
        }
    }
    pub mod identity {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/reemploi.identity.v1.rs"));
        }
    }
    pub mod impact {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/reemploi.impact.v1.rs"));
        }
    }
    pub mod events {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/reemploi.events.v1.rs"));
        }
    }
    pub mod audit {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/reemploi.audit.v1.rs"));
        }
    }
    pub mod notify {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/reemploi.notify.v1.rs"));
        }
    }
}

/// `reemploi.audit.v1`: who changed what, and when.
pub use reemploi::audit::v1 as audit;
/// `reemploi.events.v1`: the event envelope.
pub use reemploi::events::v1 as events;
/// `reemploi.identity.v1`: accounts, sessions, API tokens and signing keys.
pub use reemploi::identity::v1 as identity;
/// `reemploi.impact.v1`: outcomes, insertion hours and the territory's figures.
pub use reemploi::impact::v1 as impact;
/// `reemploi.inventory.v1`: sites, lots and claims.
pub use reemploi::inventory::v1 as inventory;
/// `reemploi.matching.v1`: matches, recommendations and allocation plans.
pub use reemploi::matching::v1 as matching;
/// `reemploi.notify.v1`: notifications, email preferences and webhooks.
pub use reemploi::notify::v1 as notify;
/// `reemploi.registry.v1`: ESS partners.
pub use reemploi::registry::v1 as registry;
/// `reemploi.type.v1`: types shared by every service.
pub use reemploi::r#type::v1 as types;

/// Fully-qualified gRPC service names, for health and reflection.
pub mod service_names {
    /// `reemploi.inventory.v1.InventoryService`.
    pub const INVENTORY: &str = "reemploi.inventory.v1.InventoryService";
    /// `reemploi.registry.v1.RegistryService`.
    pub const REGISTRY: &str = "reemploi.registry.v1.RegistryService";
    /// `reemploi.matching.v1.MatchingService`.
    pub const MATCHING: &str = "reemploi.matching.v1.MatchingService";
    /// `reemploi.identity.v1.IdentityService`.
    pub const IDENTITY: &str = "reemploi.identity.v1.IdentityService";
    /// `reemploi.impact.v1.ImpactService`.
    pub const IMPACT: &str = "reemploi.impact.v1.ImpactService";
    /// `reemploi.audit.v1.AuditService`.
    pub const AUDIT: &str = "reemploi.audit.v1.AuditService";
    /// `reemploi.notify.v1.NotificationService`.
    pub const NOTIFY: &str = "reemploi.notify.v1.NotificationService";
    /// `reemploi.notify.v1.WebhookService`.
    pub const WEBHOOKS: &str = "reemploi.notify.v1.WebhookService";
}
