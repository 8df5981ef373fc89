//! The window shows the app's own pages and nothing else: a link followed, a script, or a URL
//! or file dropped on it (which WebKitGTK opens by default) never takes it to another page —
//! one that asks for the licence key, say, under the window's trusted title.

use tauri::plugin::TauriPlugin;
use tauri::{Runtime, Url};

/// The plugin that refuses every navigation away from the app's own pages.
pub fn stays_home<R: Runtime>() -> TauriPlugin<R> {
    tauri::plugin::Builder::new("stays-home")
        .on_navigation(|_, url| {
            let own = is_own_page(url);
            if !own {
                // Its scheme and host only: a URL can carry anything, a key included.
                tracing::warn!(
                    scheme = url.scheme(),
                    host = url.host_str().unwrap_or(""),
                    "refused to leave the app's own pages"
                );
            }
            own
        })
        .build()
}

/// Whether `url` is one of the app's own pages: `tauri://localhost` (Linux and macOS), or on
/// Windows `http://tauri.localhost` with no port (where WebView2 serves the app). Anywhere
/// else, `tauri.localhost` is only a name that may reach another local user's server.
pub fn is_own_page(url: &Url) -> bool {
    own_page_on(url, cfg!(windows))
}

fn own_page_on(url: &Url, windows: bool) -> bool {
    match url.scheme() {
        "tauri" => url.host_str() == Some("localhost") && url.port().is_none(),
        "http" => windows && url.host_str() == Some("tauri.localhost") && url.port().is_none(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{is_own_page, own_page_on};

    #[test]
    fn only_the_apps_own_pages_are_shown() {
        let own = |text: &str, windows: bool| own_page_on(&text.parse().unwrap(), windows);
        for windows in [false, true] {
            assert!(own("tauri://localhost/index.html", windows));
            assert!(own("tauri://localhost/#settings", windows));
            for elsewhere in [
                "https://example.com/login",
                "https://tauri.localhost.example.com/",
                "http://tauri.localhost:8080/",
                "https://tauri.localhost/",
                "tauri://localhost:8080/",
                "http://localhost/",
                "file:///home/u/page.html",
                "data:text/html,<p>hi</p>",
                "tauri://example.com/",
                "licentric://activate?key=ACME-7QX2-M4KD-9PZT-H3WC",
            ] {
                assert!(!own(elsewhere, windows), "{elsewhere}");
            }
        }
        assert!(own("http://tauri.localhost/index.html", true));
        assert!(
            !own("http://tauri.localhost/index.html", false),
            "off Windows, a name for another local server"
        );
        assert!(is_own_page(&"tauri://localhost/".parse().unwrap()));
    }
}
