//! Logs: `RECON_LOG_FORMAT=json` writes one JSON object per line, and no colour codes reach a
//! log that is not a terminal (a file, a pipe).

use std::process::Command;

fn stderr_of(format: Option<&str>, database_url: &str) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_recon"));
    cmd.arg("migrate")
        .env("DATABASE_URL", database_url)
        .env("RECON_LOG", "info")
        .env_remove("RECON_LOG_FORMAT");
    if let Some(format) = format {
        cmd.env("RECON_LOG_FORMAT", format);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_and_piped_logs_carry_no_colour_codes() {
    let db = testkit::fresh_database().await;
    let text = stderr_of(None, &db.url);
    assert!(!text.is_empty(), "recon logged nothing");
    assert!(
        !text.contains('\u{1b}'),
        "escape sequences in a piped log: {text:?}"
    );

    let json = stderr_of(Some("json"), &db.url);
    let lines: Vec<&str> = json.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in lines {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(object["level"].is_string(), "{line}");
        assert!(object["fields"]["message"].is_string(), "{line}");
    }
    assert!(!json.contains('\u{1b}'));

    let bad = Command::new(env!("CARGO_BIN_EXE_recon"))
        .arg("migrate")
        .env("DATABASE_URL", &db.url)
        .env("RECON_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RECON_LOG_FORMAT"));
}
