//! Compiles the contract in `proto/` with protox (no system protoc needed)
//! and keeps the encoded descriptor set for server reflection.

use std::path::PathBuf;

use prost::Message;

const FILES: &[&str] = &[
    "reemploi/type/v1/types.proto",
    "reemploi/inventory/v1/inventory.proto",
    "reemploi/registry/v1/registry.proto",
    "reemploi/matching/v1/matching.proto",
    "reemploi/identity/v1/identity.proto",
    "reemploi/impact/v1/impact.proto",
    "reemploi/events/v1/events.proto",
    "reemploi/audit/v1/audit.proto",
    "reemploi/notify/v1/notify.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let descriptors = protox::compile(FILES, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("reemploi_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
