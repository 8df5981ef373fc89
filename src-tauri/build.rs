//! Lists the app's own commands so they fall under the capability ACL
//! (`capabilities/main.json` grants them to the main window, and nothing else).

fn main() {
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(
        tauri_build::AppManifest::new().commands(&[
            "app_info",
            "machine",
            "status",
            "check_key",
            "activate",
            "deactivate",
            "refresh",
            "cancel",
            "import_license",
            "save_request_file",
            "diagnostics",
            "save_diagnostics",
            "settings",
            "set_notifications",
            "set_start_at_login",
            "recent_clients",
            "borrow",
            "return_seat",
            "progress",
            "open_help",
        ]),
    ))
    .unwrap_or_else(|e| {
        // A build script reports failure by panicking; there is no other channel.
        #[allow(clippy::panic)]
        {
            panic!("tauri build failed: {e:#}")
        }
    });
}
