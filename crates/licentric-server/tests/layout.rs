//! The server's shape, checked: SQL lives in the store module alone, so the rest of the code
//! speaks in rows and typed functions and another database can follow.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn no_sql_outside_the_store() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let store = src.join("store");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "the source tree was not found");
    let sql =
        regex::Regex::new(r"rusqlite|\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b").unwrap();
    let outside: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(&store))
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.lines()
                .enumerate()
                .filter(|(_, line)| sql.is_match(line))
                .map(|(n, line)| format!("{}:{}: {}", f.display(), n + 1, line.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        outside.is_empty(),
        "SQL outside src/store:\n{}",
        outside.join("\n")
    );
    // And the store does hold it (the check above looks at the right files).
    let mut inside = Vec::new();
    rust_files(&store, &mut inside);
    assert!(
        inside
            .iter()
            .any(|f| sql.is_match(&std::fs::read_to_string(f).unwrap())),
        "no SQL found in src/store"
    );
}
