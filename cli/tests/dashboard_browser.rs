//! The dashboard (`arcp serve --demo --dashboard`) in a real headless Chromium, driven over
//! WebDriver (chromedriver) with `fantoccini`: a refused token, then log in (the token in
//! `sessionStorage`, not in the URL; the style sheet applies under the page's CSP and nothing is
//! blocked); see the job list (a job the CLI submitted); submit a `slow` job and watch its
//! progress bar fill and its result appear; a `budget` job's metrics chart and remaining budget;
//! a streamed base64 result decoded; a `chatty` job's every event kind (then the screenshot);
//! cancel a running job after a reload (the resumed session keeps the right to cancel); as the
//! observer `auditor`, every job, one watched from history and one live to its end, no cancel;
//! a page on another origin cannot open the WebSocket (403) unless `--allow-origin` names it;
//! a runtime without `heartbeat` gets the page's notice. Assertions read the DOM; the
//! screenshot of a finished job is saved to `target/artifacts/dashboard.png` for people.
//!
//! Chromium and chromedriver come from the OS packages: when missing, `.ci/install-chromium.sh`
//! installs them (the test says so). When they cannot be installed the test prints why and
//! passes as skipped, except with `CI=true`, where that is a failure. Unix only (process
//! groups; Chromium from apt).
#![cfg(unix)]

#[path = "support/serve.rs"]
mod serve;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use serve::{ARCP, Served};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long any one awaited page state may take before the test fails (a failure guard: no
/// assertion depends on it).
const WAIT: Duration = Duration::from_secs(30);

/// A child process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chromedriver, started as the leader of its own process group: on drop the whole group is
/// killed, the browsers it started included (a closed session has already ended them).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

fn browser() -> Option<PathBuf> {
    on_path("chromium").or_else(|| on_path("chromium-browser"))
}

/// Chromium and chromedriver, installed by the project's script when missing; `None` (after
/// saying why) when they cannot be had outside CI.
fn chromium() -> Option<(PathBuf, PathBuf)> {
    let found = || browser().zip(on_path("chromedriver"));
    if let Some(both) = found() {
        return Some(both);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/install-chromium.sh");
    println!(
        "chromium/chromedriver missing: installing them with {}",
        script.display()
    );
    let status = Command::new("bash").arg(&script).status();
    if let Some(both) = found() {
        return Some(both);
    }
    let why = match status {
        Ok(s) => format!("chromium could not be installed (the install script's {s})"),
        Err(e) => format!("chromium could not be installed (cannot run bash: {e})"),
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}: with CI=true the dashboard browser test may not be skipped");
    }
    println!("SKIPPED dashboard browser test: {why}");
    None
}

/// A free loopback port (bound, read, released).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// `arcp serve --demo --port 0 --dashboard EXTRA…`: the server (killed on drop), its `ws://`
/// URL and the dashboard's `http://` URL.
fn start_dashboard(extra: &[&str]) -> (Served, String, String) {
    let args: Vec<&str> = ["--dashboard"].iter().chain(extra).copied().collect();
    let mut served = Served::start(&args);
    let ws = served.url.clone();
    let page = served.line("DASHBOARD ");
    (served, ws, page)
}

/// chromedriver on a free port, and a WebDriver session of headless Chromium through it.
async fn webdriver(chromium: &Path, driver: &Path) -> (Driver, Client) {
    let port = free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn chromedriver");
    let child = Driver(child);
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--disable-breakpad",
                     "--disable-crash-reporter", "--window-size=1200,800"],
        }),
    );
    // chromedriver takes a moment to listen: retry the connection (at most WAIT).
    let url = format!("http://127.0.0.1:{port}");
    let mut last = None;
    for _ in 0..(WAIT.as_millis() / 100) {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => return (child, c),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot start a WebDriver session: {last:?}");
}

/// Waits for the element `css` to exist (at most [`WAIT`]).
async fn wait_for(c: &Client, css: &str) -> Element {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no element {css}: {e}"))
}

async fn attr(e: &Element, name: &str) -> String {
    e.attr(name).await.expect("attr").unwrap_or_default()
}

async fn text_of(c: &Client, css: &str) -> String {
    wait_for(c, css).await.text().await.expect("text")
}

/// Types `text` into the field `css`, replacing what it held.
async fn fill(c: &Client, css: &str, text: &str) {
    let e = wait_for(c, css).await;
    e.clear().await.expect("clear");
    e.send_keys(text).await.expect("type");
}

/// Submits a job from the page's form and returns its id (the job the page then shows).
async fn submit(c: &Client, agent: &str, input: &str, lease: &str) -> String {
    let before = attr(&wait_for(c, "#job-view").await, "data-job").await;
    wait_for(c, "#submit-agent")
        .await
        .select_by_value(agent)
        .await
        .expect("select agent");
    fill(c, "#submit-input", input).await;
    fill(c, "#submit-lease", lease).await;
    wait_for(c, "#submit-btn")
        .await
        .click()
        .await
        .expect("submit");
    let sel = format!("#job-view:not([data-job=\"{before}\"]):not([data-job=\"\"])");
    attr(&wait_for(c, &sel).await, "data-job").await
}

/// Runs `js` in the page as an async script whose callback gets the outcome of opening a
/// WebSocket to `url`: `"open"` or `"refused"`.
async fn try_websocket(c: &Client, url: &str) -> Value {
    let js = r#"
        const [url, done] = arguments;
        const ws = new WebSocket(url);
        ws.onopen = () => { ws.close(); done("open"); };
        ws.onerror = () => done("refused");
    "#;
    c.execute_async(js, vec![json!(url)])
        .await
        .expect("execute_async")
}

/// A tiny HTTP server on another loopback port: every request gets the same small page. Runs
/// on a thread of this test process.
fn other_origin() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = "<!doctype html><title>elsewhere</title><p>another origin</p>";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// The status line the runtime answers a WebSocket upgrade from `origin` with.
fn upgrade_status(addr: &str, path: &str, origin: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n"
    )
    .expect("write");
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).expect("read");
    line.trim_end().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium() {
    let Some((chromium, driver)) = chromium() else {
        return;
    };
    let (driver, c) = webdriver(&chromium, &driver).await;
    // The scenario runs in its own task so that the browser is closed however it ends (a
    // failed assertion included), then the driver's process group is killed.
    let outcome = tokio::spawn(scenario(c.clone())).await;
    let _ = c.close().await;
    drop(driver);
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("scenario task: {e}"),
        }
    }
}

/// The steps, against one WebDriver session `c`.
async fn scenario(c: Client) {
    let (_server, ws_url, page) = start_dashboard(&[]);
    let addr = ws_url
        .strip_prefix("ws://")
        .and_then(|r| r.split('/').next())
        .expect("ws://HOST:PORT/PATH")
        .to_owned();
    assert_eq!(page, format!("http://{addr}/"));

    // A job from another session (the CLI) for the list to show.
    let state = format!(
        "{}/dash-state-{}.json",
        env!("CARGO_TARGET_TMPDIR"),
        std::process::id()
    );
    let out = Command::new(ARCP)
        .args(["submit", "--url", &ws_url, "echo", r#"{"from":"cli"}"#])
        .env("ARCP_TOKEN", "alice-token")
        .env("ARCP_STATE_FILE", &state)
        .output()
        .expect("arcp submit");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    c.goto(&page).await.expect("open the dashboard");
    assert_eq!(text_of(&c, "h1").await, "ARCP dashboard");
    // A 1200x800 viewport (the window's size counts the browser's own frame).
    let frame = c
        .execute("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]", vec![])
        .await
        .expect("frame");
    let (fw, fh) = (
        frame[0].as_u64().unwrap_or(0),
        frame[1].as_u64().unwrap_or(0),
    );
    c.set_window_size(1200 + fw as u32, 800 + fh as u32)
        .await
        .expect("window size");

    // A token the runtime refuses: the page says so and asks again.
    fill(&c, "#token", "wrong-token").await;
    wait_for(&c, "#connect")
        .await
        .click()
        .await
        .expect("connect");
    wait_for(&c, "#conn-state[data-state=\"failed\"]").await;
    let refused = text_of(&c, "#notices [data-notice=\"conn\"]").await;
    assert!(
        refused.starts_with("The runtime refused the session: UNAUTHENTICATED"),
        "{refused}"
    );
    assert!(
        wait_for(&c, "#login")
            .await
            .is_displayed()
            .await
            .expect("displayed")
    );

    // Log in: the token goes to sessionStorage, never into the URL.
    fill(&c, "#token", "alice-token").await;
    wait_for(&c, "#connect")
        .await
        .click()
        .await
        .expect("connect");
    wait_for(&c, "#conn-state[data-state=\"ready\"]").await;
    assert_eq!(
        attr(&wait_for(&c, "#session-state").await, "data-resumed").await,
        "false"
    );
    assert!(
        !c.current_url()
            .await
            .expect("url")
            .as_str()
            .contains("alice-token")
    );
    let stored = c
        .execute("return sessionStorage.getItem('arcp.dash.token')", vec![])
        .await
        .expect("sessionStorage");
    assert_eq!(stored, json!("\"alice-token\""));
    // Every feature the page uses was negotiated: no degradation notice.
    let notices = c
        .find_all(Locator::Css("#notices [data-notice^=\"feature.\"]"))
        .await
        .expect("find");
    assert_eq!(notices.len(), 0);

    // The style sheet applies (the page's dark background) and nothing was blocked by the
    // page's Content-Security-Policy.
    let bg = c
        .execute(
            "return getComputedStyle(document.documentElement).backgroundColor",
            vec![],
        )
        .await
        .expect("style");
    assert_eq!(bg, json!("rgb(15, 20, 25)"));
    let csp = c
        .find_all(Locator::Css("#notices [data-notice=\"csp\"]"))
        .await
        .expect("find");
    assert_eq!(csp.len(), 0);

    // The job list shows the CLI's job, not cancellable from here.
    let cli_job = wait_for(
        &c,
        "#job-list li[data-agent=\"echo@1.0.0\"][data-status=\"success\"]",
    )
    .await;
    assert_eq!(attr(&cli_job, "data-mine").await, "false");

    // A slow job from the page: its progress bar reaches 8 of 8, then the result.
    let slow = submit(&c, "slow", r#"{"seconds": 2, "tick": 0.25}"#, "{}").await;
    wait_for(&c, "#job-view[data-status=\"success\"]").await;
    let bar = wait_for(&c, "#progress progress[data-units=\"ticks\"]").await;
    assert_eq!(attr(&bar, "value").await, "8");
    assert_eq!(attr(&bar, "max").await, "8");
    let result = wait_for(&c, "#result").await;
    assert_eq!(attr(&result, "data-final").await, "success");
    let shown: Value = serde_json::from_str(&result.text().await.expect("text")).expect("json");
    assert_eq!(shown["ticks"], json!(8), "{shown}");
    assert_eq!(shown["slept"].as_f64(), Some(2.0), "{shown}");
    // status + 8 progress + the result.
    assert_eq!(
        attr(&wait_for(&c, "#event-count").await, "data-count").await,
        "10"
    );
    let row = wait_for(&c, &format!("#job-list li[data-job=\"{slow}\"]")).await;
    assert_eq!(attr(&row, "data-status").await, "success");
    assert_eq!(attr(&row, "data-mine").await, "true");

    // A budget job: its metrics are charted, the last remaining budget 0.2 USD.
    let budget = submit(
        &c,
        "budget",
        r#"{"cost": "0.40", "steps": 2}"#,
        r#"{"tool.call": ["paid-tool"], "cost.budget": ["USD:1.00"]}"#,
    )
    .await;
    wait_for(
        &c,
        &format!("#job-view[data-job=\"{budget}\"][data-status=\"success\"]"),
    )
    .await;
    let remaining = wait_for(
        &c,
        "#chart-legend li[data-metric=\"cost.budget.remaining\"]",
    )
    .await;
    assert_eq!(attr(&remaining, "data-last").await, "0.2");
    wait_for(&c, "#chart polyline[data-metric=\"cost.budget.remaining\"]").await;
    wait_for(&c, "#chart polyline[data-metric=\"cost.inference\"]").await;
    assert_eq!(
        text_of(&c, "#job-meta dd[data-field=\"budget remaining\"]").await,
        "USD:0.2"
    );

    // A result streamed in base64 chunks is shown assembled and decoded.
    let chunked = submit(
        &c,
        "chunked",
        r#"{"data": "ARCP streams \u00fcn\u00efc\u00f6d\u00e9 \u2713", "encoding": "base64", "chunk_size": 4}"#,
        "{}",
    )
    .await;
    wait_for(
        &c,
        &format!("#job-view[data-job=\"{chunked}\"][data-status=\"success\"]"),
    )
    .await;
    assert_eq!(
        text_of(&c, "#result").await,
        "ARCP streams \u{fc}n\u{ef}c\u{f6}d\u{e9} \u{2713}"
    );

    // A chatty job (every event kind) for the screenshot: logs, thoughts, tool calls, a
    // metric, a progress stream of rounds and an artifact.
    let chatty = submit(&c, "chatty", r#"{"count": 4}"#, "{}").await;
    wait_for(
        &c,
        &format!("#job-view[data-job=\"{chatty}\"][data-status=\"success\"]"),
    )
    .await;
    let bar = wait_for(&c, "#progress progress[data-units=\"rounds\"]").await;
    assert_eq!(attr(&bar, "value").await, "4");
    assert_eq!(attr(&bar, "max").await, "4");
    let rounds = wait_for(&c, "#chart-legend li[data-metric=\"rounds.completed\"]").await;
    assert_eq!(attr(&rounds, "data-last").await, "4");
    for kind in [
        "status",
        "log",
        "thought",
        "tool_call",
        "tool_result",
        "metric",
        "progress",
        "artifact_ref",
        "job.result",
    ] {
        wait_for(&c, &format!("#events li[data-kind=\"{kind}\"]")).await;
    }
    // 1 status, 4 rounds of 6 events, 1 artifact, the result.
    assert_eq!(
        attr(&wait_for(&c, "#event-count").await, "data-count").await,
        "27"
    );
    let png = c.screenshot().await.expect("screenshot");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    let dir = dir.canonicalize().expect("artifacts dir");
    std::fs::write(dir.join("dashboard.png"), &png).expect("write screenshot");
    println!("screenshot: {}", dir.join("dashboard.png").display());

    // A long job, then a reload: the page resumes its session, which may still cancel it.
    let long = submit(&c, "slow", r#"{"seconds": 120, "tick": 0.5}"#, "{}").await;
    wait_for(
        &c,
        &format!("#job-view[data-job=\"{long}\"] progress[data-units=\"ticks\"]"),
    )
    .await;
    c.refresh().await.expect("reload");
    wait_for(&c, "#conn-state[data-state=\"ready\"]").await;
    assert_eq!(
        attr(&wait_for(&c, "#session-state").await, "data-resumed").await,
        "true"
    );
    wait_for(
        &c,
        &format!("#job-list li[data-job=\"{long}\"][data-mine=\"true\"]"),
    )
    .await
    .click()
    .await
    .expect("select");
    wait_for(
        &c,
        &format!("#job-view[data-job=\"{long}\"][data-status=\"running\"]"),
    )
    .await;
    let cancel = wait_for(&c, "#cancel-btn").await;
    assert!(cancel.is_displayed().await.expect("displayed"));
    cancel.click().await.expect("cancel");
    wait_for(
        &c,
        &format!("#job-view[data-job=\"{long}\"][data-status=\"cancelled\"]"),
    )
    .await;
    assert_eq!(
        attr(&wait_for(&c, "#result").await, "data-final").await,
        "cancelled"
    );
    wait_for(
        &c,
        &format!("#job-list li[data-job=\"{long}\"][data-status=\"cancelled\"]"),
    )
    .await;

    // The observer sees every principal's jobs, watches them from history, cancels none.
    wait_for(&c, "#disconnect")
        .await
        .click()
        .await
        .expect("forget token");
    fill(&c, "#token", "auditor-token").await;
    wait_for(&c, "#connect")
        .await
        .click()
        .await
        .expect("connect");
    wait_for(&c, "#conn-state[data-state=\"ready\"]").await;
    wait_for(
        &c,
        &format!("#job-list li[data-job=\"{slow}\"][data-mine=\"false\"]"),
    )
    .await
    .click()
    .await
    .expect("select");
    wait_for(
        &c,
        &format!("#job-view[data-job=\"{slow}\"][data-status=\"success\"]"),
    )
    .await;
    let bar = wait_for(&c, "#progress progress[data-units=\"ticks\"]").await;
    assert_eq!(attr(&bar, "value").await, "8");
    assert!(
        !wait_for(&c, "#cancel-btn")
            .await
            .is_displayed()
            .await
            .expect("displayed")
    );
    let count: u32 = attr(&wait_for(&c, "#job-count").await, "data-count")
        .await
        .parse()
        .expect("count");
    assert_eq!(count, 6, "the CLI's echo job and the page's five");

    // A job the CLI submits now appears in the observer's list and is watched live to its end.
    let _cli = Killed(
        Command::new(ARCP)
            .args([
                "submit",
                "--url",
                &ws_url,
                "slow",
                r#"{"seconds": 5, "tick": 0.5}"#,
            ])
            .env("ARCP_TOKEN", "alice-token")
            .env("ARCP_STATE_FILE", &state)
            .stdout(Stdio::null())
            .spawn()
            .expect("arcp submit"),
    );
    let live = wait_for(
        &c,
        "#job-list li[data-agent=\"slow@1.0.0\"][data-status=\"running\"]",
    )
    .await;
    let live_id = attr(&live, "data-job").await;
    live.click().await.expect("select");
    wait_for(
        &c,
        &format!("#job-view[data-job=\"{live_id}\"][data-status=\"running\"]"),
    )
    .await;
    wait_for(
        &c,
        &format!("#job-view[data-job=\"{live_id}\"][data-status=\"success\"]"),
    )
    .await;
    let bar = wait_for(&c, "#progress progress[data-units=\"ticks\"]").await;
    assert_eq!(attr(&bar, "value").await, "10");
    assert_eq!(attr(&bar, "max").await, "10");
    // status + 10 progress + the result, each once (history and live frames do not overlap).
    assert_eq!(
        attr(&wait_for(&c, "#event-count").await, "data-count").await,
        "12"
    );

    // Another origin cannot open the runtime's WebSocket (403); the dashboard's own can.
    assert_eq!(try_websocket(&c, &ws_url).await, json!("open"));
    let other = other_origin();
    c.goto(&format!("http://127.0.0.1:{other}/"))
        .await
        .expect("other origin");
    assert_eq!(text_of(&c, "p").await, "another origin");
    assert_eq!(try_websocket(&c, &ws_url).await, json!("refused"));
    let path = ws_url
        .splitn(4, '/')
        .nth(3)
        .map(|p| format!("/{p}"))
        .expect("path");
    let status = upgrade_status(&addr, &path, &format!("http://127.0.0.1:{other}"));
    assert!(status.starts_with("HTTP/1.1 403"), "{status}");
    // Unless the runtime allows that origin (--allow-origin).
    let allowed = format!("http://127.0.0.1:{other}");
    let (_open, open_ws, _) = start_dashboard(&["--allow-origin", &allowed]);
    assert_eq!(try_websocket(&c, &open_ws).await, json!("open"));

    // A runtime without heartbeat: the page says what it does without.
    let (_quiet, _, quiet_page) = start_dashboard(&["--heartbeat-interval", "0"]);
    c.goto(&quiet_page).await.expect("the second dashboard");
    fill(&c, "#token", "alice-token").await;
    wait_for(&c, "#connect")
        .await
        .click()
        .await
        .expect("connect");
    wait_for(&c, "#conn-state[data-state=\"ready\"]").await;
    let degraded = text_of(&c, "#notices [data-notice=\"feature.heartbeat\"]").await;
    assert!(
        degraded.starts_with("The runtime did not negotiate heartbeat"),
        "{degraded}"
    );
    let notices = c
        .find_all(Locator::Css("#notices [data-notice^=\"feature.\"]"))
        .await
        .expect("find");
    assert_eq!(notices.len(), 1);
}
