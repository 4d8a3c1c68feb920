// Embeds the migrations (`migrations/NNNN_description.sql`) as `(version, description, SQL)`
// for `MIGRATOR`, named as sqlx names them. Adding or changing a file rebuilds the crate.
use std::fmt::Write;

fn main() {
    // Read when the script runs, not when it is compiled: a build script shared by two clones
    // (one CARGO_TARGET_DIR) must read the migrations of the clone being built.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = std::path::Path::new(&manifest_dir).join("../../migrations");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<(i64, String, std::path::PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("migrations folder entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let Some((version, rest)) = name.split_once('_') else { continue };
        let (Ok(version), Some(description)) = (version.parse::<i64>(), rest.strip_suffix(".sql")) else { continue };
        println!("cargo:rerun-if-changed={}", path.display());
        files.push((version, description.replace('_', " "), path));
    }
    files.sort();
    let mut out = String::from("&[\n");
    for (version, description, path) in files {
        let path = path.canonicalize().expect("migration path");
        writeln!(out, "    ({version}, {description:?}, include_str!({:?})),", path.display().to_string())
            .expect("write");
    }
    out.push(']');
    let target = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("migrations.rs");
    std::fs::write(target, out).expect("write migrations.rs");
}
