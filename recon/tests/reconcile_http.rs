//! A reconciliation end to end through the HTTP API of one `recon` process (embedded mode):
//! upload two CSV sources, preview, re-upload (nothing added), reject and skip bad rows, run a
//! job in the in-process worker, read paginated results and stream an export.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{announced_address, create_user_with_cli, sign_in};

struct Recon {
    child: Child,
    base: String,
    client: awc::Client,
}

impl Drop for Recon {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

impl Recon {
    async fn start(database_url: &str) -> Self {
        let data = std::env::temp_dir().join(testkit::unique_name("recon-http"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_recon"))
            .env("DATABASE_URL", database_url)
            .env_remove("KAFKA_BROKERS")
            .env("RECON_DATA_DIR", &data)
            .env("RECON_HTTP_ADDR", "127.0.0.1:0")
            // The test polls and pages quickly; limits have tests of their own.
            .env("RECON_RATE_LIMIT", "off")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = announced_address(&mut child, Duration::from_secs(60));
        let mut cli = Command::new(env!("CARGO_BIN_EXE_recon"));
        cli.env("DATABASE_URL", database_url);
        create_user_with_cli(cli, "ops@example.com", "operator");
        let token = sign_in(&base, "ops@example.com").await;
        Self {
            child,
            base,
            client: awc::Client::builder()
                .bearer_auth(token)
                .timeout(Duration::from_secs(60))
                .finish(),
        }
    }

    async fn json(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{}", self.base, path);
        let req = match method {
            "GET" => self.client.get(url),
            "POST" => self.client.post(url),
            "PUT" => self.client.put(url),
            other => panic!("{other}"),
        };
        let mut res = match body {
            Some(b) => req.send_json(&b).await,
            None => req.send().await,
        }
        .unwrap();
        let bytes = res.body().limit(50 << 20).await.unwrap();
        (
            res.status().as_u16(),
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// The job, once its run has completed or failed.
    async fn finished(&self, job: &str) -> Value {
        let started = Instant::now();
        loop {
            let (_, view) = self.json("GET", &format!("/api/v1/jobs/{job}"), None).await;
            if view["status"] == "completed" || view["status"] == "failed" {
                return view;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "job did not finish: {view}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn upload(&self, source: &str, query: &str, body: String) -> (u16, Value) {
        let mut res = self
            .client
            .post(format!(
                "{}/api/v1/sources/{source}/files?{query}",
                self.base
            ))
            .insert_header(("content-type", "text/csv"))
            .send_body(body)
            .await
            .unwrap();
        let bytes = res.body().await.unwrap();
        (
            res.status().as_u16(),
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

fn bank_settings() -> Value {
    json!({"format": "csv", "csv": {"delimiter": ";"},
           "mapping": {"id": "Id", "booking_date": "Datum", "amount": "Betrag", "fixed_currency": "EUR", "reference": "Referenz",
                       "date_format": "%d.%m.%Y", "decimal": {"decimal_separator": ",", "thousands_separator": "."}}})
}

fn ledger_settings() -> Value {
    json!({"format": "csv", "mapping": {"id": "entry", "booking_date": "date", "debit": "debit", "credit": "credit",
                                         "currency": "currency", "reference": "ref", "date_format": "%Y-%m-%d"}})
}

/// 200 bank lines; the ledger has 190 of them (one day later, as credit/debit columns, references
/// in another case and with dashes removed) and 5 of its own.
fn files() -> (String, String) {
    let mut bank = String::from("Id;Datum;Betrag;Referenz\n");
    let mut ledger = String::from("entry,date,debit,credit,currency,ref\n");
    for i in 1..=200 {
        let day = 1 + i % 27;
        let cents = i * 137 % 100_000;
        let amount = format!(
            "{}.{:03},{:02}",
            1 + cents / 100 / 1000,
            cents / 100 % 1000,
            cents % 100
        );
        let sign = if i % 4 == 0 { "-" } else { "" };
        bank.push_str(&format!(
            "B{i};{day:02}.03.2026;{sign}{amount};INV-{i:05}\n"
        ));
        if i <= 190 {
            let plain = format!(
                "{}{:03}.{:02}",
                1 + cents / 100 / 1000,
                cents / 100 % 1000,
                cents % 100
            );
            let (debit, credit) = if sign == "-" {
                (plain.as_str(), "")
            } else {
                ("", plain.as_str())
            };
            ledger.push_str(&format!(
                "L{i},2026-03-{:02},{debit},{credit},EUR,inv{i:05}\n",
                day + 1
            ));
        }
    }
    for i in 1..=5 {
        ledger.push_str(&format!("X{i},2026-03-10,,{i}.00,EUR,OTHER-{i}\n"));
    }
    (bank, ledger)
}

#[actix_web::test]
async fn upload_two_sources_run_a_job_and_read_its_results() {
    let db = testkit::fresh_database().await;
    let recon = Recon::start(&db.url).await;
    let (status, project) = recon
        .json(
            "POST",
            "/api/v1/projects",
            Some(json!({"name": "Bank vs ledger", "base_currency": "EUR"})),
        )
        .await;
    assert_eq!(status, 201);
    let project = project["id"].as_str().unwrap().to_string();
    let (bank_csv, ledger_csv) = files();

    // Preview first: nothing stored, each row parsed or explained.
    let sample: String = bank_csv
        .lines()
        .take(3)
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + "B999;31.02.2026;1,00;X\n";
    let (status, preview) = recon
        .json(
            "POST",
            "/api/v1/sources/preview",
            Some(json!({"settings": bank_settings(), "content": sample})),
        )
        .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        preview["rows"][0]["record"]["record"]["amount"], "1001.37",
        "{preview}"
    );
    assert_eq!(
        preview["rows"][2]["errors"][0]["column"], "Datum",
        "{preview}"
    );

    let mut sources = Vec::new();
    for (name, settings) in [("bank", bank_settings()), ("ledger", ledger_settings())] {
        let (status, created) = recon
            .json(
                "POST",
                &format!("/api/v1/projects/{project}/sources"),
                Some(json!({"name": name, "settings": settings})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        sources.push(created["id"].as_str().unwrap().to_string());
    }
    let (status, bad_settings) = recon
        .json("POST", &format!("/api/v1/projects/{project}/sources"), Some(json!({"name": "x", "settings": {"format": "csv", "mapping": {"booking_date": "d"}}})))
        .await;
    assert_eq!(status, 422);
    assert!(
        bad_settings["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == "settings.mapping.amount"),
        "{bad_settings}"
    );

    let (status, imported) = recon
        .upload(&sources[0], "file_name=bank.csv", bank_csv.clone())
        .await;
    assert_eq!(status, 201, "{imported}");
    assert_eq!(imported["import"]["records_added"], 200);
    assert_eq!(imported["sha256"].as_str().unwrap().len(), 64);
    let (status, again) = recon
        .upload(&sources[0], "file_name=bank-again.csv", bank_csv.clone())
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        (
            again["import"]["records_added"].as_i64(),
            again["already_imported"].as_bool()
        ),
        (Some(0), Some(true))
    );

    let bad_ledger = format!("{ledger_csv}BAD1,2026-13-01,,1.00,EUR,R\n");
    let (status, rejected) = recon
        .upload(&sources[1], "file_name=ledger.csv", bad_ledger.clone())
        .await;
    assert_eq!(status, 422, "{rejected}");
    assert_eq!(rejected["errors"][0]["path"], "rows[197].date");
    let (status, skipped) = recon
        .upload(
            &sources[1],
            "file_name=ledger.csv&on_error=skip",
            bad_ledger,
        )
        .await;
    assert_eq!(status, 201, "{skipped}");
    assert_eq!(
        (
            skipped["import"]["records_added"].as_i64(),
            skipped["import"]["rows_skipped"].as_i64()
        ),
        (Some(195), Some(1))
    );

    let rule_set = json!({"version": 1, "passes": [{"name": "invoice", "cardinality": "one_to_one", "reference": {"extract": "(\\d+)"},
        "amount_tolerance": {"absolute": "0.01"}, "date_window": {"field": "booking_date", "days": 3}}]});
    let (status, job) = recon
        .json("POST", &format!("/api/v1/projects/{project}/jobs"), Some(json!({"name": "march", "left_source_id": sources[0], "right_source_id": sources[1], "rule_set": rule_set})))
        .await;
    assert_eq!(status, 201, "{job}");
    let (job, position) = (
        job["id"].as_str().unwrap().to_string(),
        job["position"].as_i64().unwrap(),
    );
    let (status, _) = recon
        .json(
            "GET",
            &format!("/api/v1/jobs/{job}?wait_for_position={position}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = recon
        .json("GET", &format!("/api/v1/jobs/{job}/results"), None)
        .await;
    assert_eq!(status, 409, "no results before a run");
    let (status, _) = recon
        .json("POST", &format!("/api/v1/jobs/{job}/start"), None)
        .await;
    assert_eq!(status, 200);

    let view = recon.finished(&job).await;
    assert_eq!(view["status"], "completed", "{view}");
    assert_eq!(
        view["counts"],
        json!({"matched": 190, "unmatched_left": 10, "unmatched_right": 5, "suggestions": 0})
    );
    let values = &view["outcome"]["values"][0];
    assert_eq!(values["currency"], "EUR");
    assert_eq!(
        view["outcome"]["manifest"]["left_files"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "both bank uploads are in the manifest"
    );

    let (_, first) = recon
        .json(
            "GET",
            &format!("/api/v1/jobs/{job}/results/matches?limit=100"),
            None,
        )
        .await;
    assert_eq!(first["items"].as_array().unwrap().len(), 100);
    let cursor = first["next_cursor"].as_i64().unwrap();
    let (_, second) = recon
        .json(
            "GET",
            &format!("/api/v1/jobs/{job}/results/matches?limit=100&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(
        (
            second["items"].as_array().unwrap().len(),
            second["next_cursor"].is_null()
        ),
        (90, true)
    );
    let m = &first["items"][0];
    assert_eq!(m["day_difference"].as_i64().unwrap().abs(), 1);
    assert_eq!(m["amount_difference"], "0.00");
    let (_, unmatched) = recon
        .json(
            "GET",
            &format!("/api/v1/jobs/{job}/results/unmatched?side=right"),
            None,
        )
        .await;
    assert_eq!(unmatched["items"].as_array().unwrap().len(), 5);
    let (status, _) = recon
        .json(
            "GET",
            &format!("/api/v1/jobs/{job}/results/unmatched"),
            None,
        )
        .await;
    assert_eq!(status, 422, "side is required");

    let mut export = recon
        .client
        .get(format!(
            "{}/api/v1/jobs/{job}/results/matches/export?format=csv",
            recon.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(export.status().as_u16(), 200);
    let body = export.body().limit(10 << 20).await.unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.starts_with("seq,pass_index,pass_name,score"));
    assert_eq!(text.lines().count(), 191);
    let mut ndjson = recon
        .client
        .get(format!(
            "{}/api/v1/jobs/{job}/results/unmatched/export?format=ndjson&side=left",
            recon.base
        ))
        .send()
        .await
        .unwrap();
    let body = ndjson.body().await.unwrap();
    assert_eq!(String::from_utf8_lossy(&body).lines().count(), 10);

    // The source's history records every import with its file's hash.
    let (_, history) = recon
        .json(
            "GET",
            &format!("/api/v1/sources/{}/events", sources[0]),
            None,
        )
        .await;
    let types: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "DataSourceCreated",
            "SourceFileImported",
            "SourceFileImported"
        ]
    );

    // Redefining the completed job (issue 12): it needs a new run, shows no results until it
    // has one, and then its results name the definition revision they came from.
    let (_, summary) = recon
        .json("GET", &format!("/api/v1/jobs/{job}/results"), None)
        .await;
    assert_eq!(
        (
            summary["run"].as_i64(),
            summary["definition_revision"].as_i64()
        ),
        (Some(1), Some(1))
    );
    let exact = json!({"version": 1, "passes": [{"name": "exact", "cardinality": "one_to_one", "reference": {}}]});
    let (status, redefined) = recon
        .json("PUT", &format!("/api/v1/jobs/{job}"), Some(json!({"name": "march, exact", "left_source_id": sources[0], "right_source_id": sources[1], "rule_set": exact})))
        .await;
    assert_eq!(status, 200, "{redefined}");
    let position = redefined["position"].as_i64().unwrap();
    let (_, view) = recon
        .json(
            "GET",
            &format!("/api/v1/jobs/{job}?wait_for_position={position}"),
            None,
        )
        .await;
    assert_eq!(
        (
            view["status"].as_str(),
            view["revision"].as_i64(),
            view["counts"].is_null()
        ),
        (Some("created"), Some(2), true),
        "{view}"
    );
    let (status, _) = recon
        .json("GET", &format!("/api/v1/jobs/{job}/results"), None)
        .await;
    assert_eq!(status, 409, "the old definition's results are not shown");
    let (status, _) = recon
        .json("POST", &format!("/api/v1/jobs/{job}/start"), None)
        .await;
    assert_eq!(status, 200);
    let view = recon.finished(&job).await;
    assert_eq!(view["status"], "completed", "{view}");
    let (_, summary) = recon
        .json("GET", &format!("/api/v1/jobs/{job}/results"), None)
        .await;
    assert_eq!(
        (
            summary["run"].as_i64(),
            summary["definition_revision"].as_i64()
        ),
        (Some(2), Some(2)),
        "{summary}"
    );
}
