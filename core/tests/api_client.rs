//! The control plane's HTTP client against the loopback test server: the
//! headers and signing it sends, base-URL rules, every endpoint's answers
//! and errors, body caps, and that the key never leaks into any text.

use execlave_core::control_plane::test_server::{Reply, TestServer};
use execlave_core::control_plane::*;
use hmac::{Hmac, Mac};
use serde_json::json;
use serde_json::Value;
use sha2::Sha256;
use std::time::Instant;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn ingest_body(traces: Value) -> Vec<u8> {
    json!({ "traces": traces }).to_string().into_bytes()
}

const KEY: &str = "exe_test_k3y_SHOULD_NEVER_LEAK_91c2";

fn config(base: &str) -> ApiConfig {
    let mut cfg = ApiConfig::new(base, KEY);
    cfg.request_timeout = Duration::from_secs(5);
    cfg
}

fn client(server: &TestServer) -> ApiClient {
    ApiClient::new(config(&server.base_url)).unwrap()
}

/// A port on which nothing listens.
async fn dead_base_url() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

fn assert_no_key(text: &str) {
    assert!(!text.contains(KEY), "the key leaked into: {text}");
    assert!(
        !text.contains("SHOULD_NEVER_LEAK"),
        "the key leaked into: {text}"
    );
}

#[tokio::test]
async fn sends_auth_accept_and_user_agent() {
    let server = TestServer::start(vec![Reply::json(200, r#"{"status":"ok"}"#)]).await;
    client(&server).health().await.unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, "/health");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(r.header("accept"), Some("application/json"));
    assert_eq!(r.header("user-agent"), Some(DEFAULT_USER_AGENT));
    assert!(DEFAULT_USER_AGENT.starts_with("execlave-rust-core/"));
    assert_eq!(r.header("x-execlave-signature"), None);
    assert_eq!(r.header("x-execlave-timestamp"), None);
}

#[tokio::test]
async fn custom_user_agent_is_sent() {
    let server = TestServer::start(vec![Reply::json(200, "{}")]).await;
    let mut cfg = config(&server.base_url);
    cfg.user_agent = "execlave-node/1.2.3 execlave-rust-core/0.1.0".into();
    ApiClient::new(cfg).unwrap().health().await.unwrap();
    assert_eq!(
        server.requests()[0].header("user-agent"),
        Some("execlave-node/1.2.3 execlave-rust-core/0.1.0")
    );
}

#[tokio::test]
async fn signs_requests_with_hmac_of_timestamp_and_body() {
    let server = TestServer::start(vec![Reply::json(200, "{}")]).await;
    let mut cfg = config(&server.base_url);
    cfg.sign_requests = true;
    let api = ApiClient::new(cfg).unwrap();
    api.health().await.unwrap();
    api.ingest_body(ingest_body(json!([{"traceId": "t1", "status": "success"}])))
        .await
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        let ts = r.header("x-execlave-timestamp").expect("timestamp header");
        let ts_num: u64 = ts.parse().expect("unix seconds");
        assert!(now.abs_diff(ts_num) <= 5);
        let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
        mac.update(format!("{ts}.").as_bytes());
        mac.update(&r.body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(r.header("x-execlave-signature"), Some(expected.as_str()));
    }
    assert!(reqs[0].body.is_empty(), "GET signs the empty body");
    assert_eq!(reqs[1].header("content-type"), Some("application/json"));
    let sent: Value = serde_json::from_slice(&reqs[1].body).unwrap();
    assert_eq!(
        sent,
        json!({"traces": [{"traceId": "t1", "status": "success"}]})
    );
}

#[test]
fn base_url_rules() {
    let refused = [
        "http://example.com",
        "http://api.execlave.com/",
        "http://10.0.0.1",
        "http://localhost.example.com",
        "ftp://localhost",
        "not a url",
        "",
        "https://user:pass@api.execlave.com",
        "https://api.execlave.com?x=1",
    ];
    for url in refused {
        let err = ApiClient::new(config(url)).expect_err(url);
        assert_no_key(&err);
    }
    let err = ApiClient::new(config("http://example.com")).unwrap_err();
    assert!(err.contains("https://"), "{err}");
    assert!(err.contains("unencrypted"), "{err}");

    let allowed = [
        ("http://127.0.0.1", "http://127.0.0.1"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://127.1.2.3:9", "http://127.1.2.3:9"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://LOCALHOST", "http://localhost"),
        ("http://[::1]:4000", "http://[::1]:4000"),
        ("https://anything.example", "https://anything.example"),
        ("https://api.execlave.com/", "https://api.execlave.com"),
        (
            "https://proxy.example/execlave//",
            "https://proxy.example/execlave",
        ),
    ];
    for (url, normalized) in allowed {
        let api = ApiClient::new(config(url)).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(api.base_url(), normalized);
    }
}

#[test]
fn config_checks_do_not_leak_the_key() {
    let mut cfg = config("https://api.execlave.com");
    cfg.api_key = "   ".into();
    assert!(ApiClient::new(cfg)
        .unwrap_err()
        .contains("API key is empty"));

    let mut cfg = config("https://api.execlave.com");
    cfg.api_key = format!("{KEY}\n");
    // Surrounding whitespace is trimmed.
    assert!(ApiClient::new(cfg).is_ok());

    let mut cfg = config("https://api.execlave.com");
    cfg.api_key = format!("{KEY}\nX-Evil: 1");
    let err = ApiClient::new(cfg).unwrap_err();
    assert_no_key(&err);

    let mut cfg = config("https://api.execlave.com");
    cfg.request_timeout = Duration::ZERO;
    assert!(ApiClient::new(cfg).is_err());

    // The key in the base URL by mistake is not echoed either.
    let err = ApiClient::new(config(&format!("http://{KEY}.example.com"))).unwrap_err();
    assert_no_key(&err);

    let api = ApiClient::new(config("https://api.execlave.com")).unwrap();
    assert_no_key(&format!("{api:?}"));
    assert_no_key(&format!("{:?}", config("https://api.execlave.com")));
}

#[tokio::test]
async fn trailing_slash_and_path_prefix() {
    let server = TestServer::start(vec![Reply::json(200, r#"{"data":[]}"#)]).await;
    let api = ApiClient::new(config(&format!("{}/", server.base_url))).unwrap();
    api.health().await.unwrap();
    let api = ApiClient::new(config(&format!("{}/prefix/", server.base_url))).unwrap();
    api.list_policies(None).await.unwrap();
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/health", "/prefix/api/v1/policies"]);
}

#[tokio::test]
async fn policies_with_etag_then_304() {
    let server = TestServer::start(vec![
        Reply::json(
            200,
            r#"{"data":[{"id":"p1","name":"a"}, 7, "junk"],"meta":{"total":3}}"#,
        )
        .with_header("ETag", "\"v1\""),
        Reply::status(304).with_header("ETag", "\"v1\""),
    ])
    .await;
    let api = client(&server);
    let first = api.list_policies(None).await.unwrap();
    assert_eq!(
        first,
        PolicyList::Fresh {
            policies: vec![json!({"id":"p1","name":"a"}), json!(7), json!("junk")],
            etag: Some("\"v1\"".into()),
        }
    );
    let second = api.list_policies(Some("\"v1\"")).await.unwrap();
    assert_eq!(second, PolicyList::NotModified);
    let reqs = server.requests();
    assert_eq!(reqs[0].path, "/api/v1/policies");
    assert_eq!(reqs[0].header("if-none-match"), None);
    assert_eq!(reqs[1].header("if-none-match"), Some("\"v1\""));
}

#[tokio::test]
async fn policies_without_etag_and_wrong_shapes() {
    let server = TestServer::start(vec![
        Reply::json(200, r#"{"data":[]}"#),
        Reply::json(200, r#"{"policies":[]}"#),
        Reply::json(200, r#"{"data":{}}"#),
        Reply::json(200, r#"[]"#),
        Reply::json(200, r#"{"data":[1,2"#),
        Reply::json(200, "<html>oops</html>"),
        Reply::status(304),
    ])
    .await;
    let api = client(&server);
    assert_eq!(
        api.list_policies(None).await.unwrap(),
        PolicyList::Fresh {
            policies: vec![],
            etag: None
        }
    );
    for _ in 0..5 {
        let err = api.list_policies(None).await.unwrap_err();
        assert!(matches!(err, ApiError::Malformed(_)), "{err:?}");
        assert!(err.is_outage());
    }
    // 304 to an unconditional request is not a usable answer.
    assert!(matches!(
        api.list_policies(None).await,
        Err(ApiError::Malformed(_))
    ));
}

#[tokio::test]
async fn find_agent_picks_the_exact_match_among_fuzzy_results() {
    let server = TestServer::start(vec![
        Reply::json(
            200,
            r#"{"data":[
                {"id":"i-1","agentId":"ops-agent-2","name":"x"},
                "junk",
                {"id":"i-2","agentId":"ops-agent","name":"y"},
                {"id":"i-3","agentId":"ops-agent","name":"dup"}
            ],"meta":{"total":3}}"#,
        ),
        Reply::json(200, r#"{"data":[{"id":"i-1","agentId":"ops-agent-2"}]}"#),
        Reply::json(200, r#"{"data":[{"agentId":"ops agent/1&x=y"}]}"#),
        Reply::json(200, r#"{"agents":[]}"#),
    ])
    .await;
    let api = client(&server);
    assert_eq!(
        api.find_agent("ops-agent").await.unwrap(),
        Some("i-2".to_string())
    );
    assert_eq!(api.find_agent("ops-agent").await.unwrap(), None);
    assert!(matches!(
        api.find_agent("ops agent/1&x=y").await,
        Err(ApiError::Malformed(_))
    ));
    assert!(matches!(
        api.find_agent("a").await,
        Err(ApiError::Malformed(_))
    ));
    let reqs = server.requests();
    assert_eq!(reqs[0].path, "/api/v1/agents?search=ops-agent");
    assert_eq!(
        reqs[2].path,
        "/api/v1/agents?search=ops%20agent%2F1%26x%3Dy"
    );
}

#[tokio::test]
async fn agent_status_parsing() {
    let server = TestServer::start(vec![
        Reply::json(200, r#"{"data":{"status":"active"}}"#),
        Reply::json(
            200,
            r#"{"data":{"status":"paused","reason":"incident 42"}}"#,
        ),
        Reply::json(200, r#"{"data":{"status":"paused","reason":null}}"#),
        Reply::json(200, r#"{"data":{"status":"sleeping"}}"#),
        Reply::json(200, r#"{"data":{}}"#),
        Reply::json(200, r#"{"status":"active"}"#),
    ])
    .await;
    let api = client(&server);
    assert_eq!(
        api.agent_status("a/b c").await.unwrap(),
        RemoteAgentStatus {
            paused: false,
            reason: None
        }
    );
    assert_eq!(
        api.agent_status("i-2").await.unwrap(),
        RemoteAgentStatus {
            paused: true,
            reason: Some("incident 42".into())
        }
    );
    assert_eq!(
        api.agent_status("i-2").await.unwrap(),
        RemoteAgentStatus {
            paused: true,
            reason: None
        }
    );
    for _ in 0..3 {
        assert!(matches!(
            api.agent_status("i-2").await,
            Err(ApiError::Malformed(_))
        ));
    }
    let reqs = server.requests();
    assert_eq!(reqs[0].path, "/api/v1/agents/a%2Fb%20c/status-poll");
    assert_eq!(reqs[1].path, "/api/v1/agents/i-2/status-poll");
}

fn request() -> EnforceRequest {
    EnforceRequest::for_tool_call(
        "ops-agent",
        "production",
        "delete_file",
        json!({"path": "/etc/passwd"}),
    )
}

#[tokio::test]
async fn enforce_sends_the_wire_format() {
    let server = TestServer::start(vec![Reply::json(200, r#"{"allowed":true}"#)]).await;
    client(&server).enforce(&request()).await.unwrap();
    let r = &server.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/api/v1/policies/enforce");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let sent: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        sent,
        json!({
            "agentId": "ops-agent",
            "input": r#"{"path":"/etc/passwd"}"#,
            "environment": "production",
            "tools": ["delete_file"],
            "metadata": {"toolArguments": {"path": "/etc/passwd"}}
        })
    );
}

#[test]
fn enforce_input_is_bounded() {
    assert_eq!(enforce_input("t", &Value::Null), "tool:t");
    assert_eq!(enforce_input("t", &json!({})), "tool:t");
    assert_eq!(enforce_input("t", &json!({"a": 1})), r#"{"a":1}"#);
    assert_eq!(enforce_input("t", &json!("plain")), "plain");
    let long = enforce_input("t", &json!({"a": "é".repeat(5000)}));
    assert_eq!(long.chars().count(), MAX_ENFORCE_INPUT_CHARS);
}

#[tokio::test]
async fn enforce_answers() {
    let violation = r#"{"policyId":"p1","policyName":"No deletes","policyType":"tool_restriction",
                        "message":"deletes are not allowed","enforcementMode":"block","ruleId":"r9"}"#;
    let server = TestServer::start(vec![
        Reply::json(200, r#"{"allowed":true}"#),
        Reply::json(
            200,
            &format!(r#"{{"allowed":true,"warnings":[{violation}, 3]}}"#),
        ),
        Reply::json(200, r#"{"data":{"allowed":true,"warnings":null}}"#),
        Reply::json(403, &format!(r#"{{"allowed":false,"violations":[{violation}]}}"#)),
        Reply::json(403, r#"{"error":{"code":"FORBIDDEN","message":"bad key"}}"#),
        Reply::status(403),
        Reply::json(403, r#"{"allowed":false,"violations":[]}"#),
        Reply::json(202, r#"{"approvalRequestId":"apr_1"}"#),
        Reply::status(202),
        Reply::json(
            402,
            r#"{"error":{"code":"PLAN_LIMIT","resource":"enforcements","current":1000,"max":1000,"message":"Monthly enforcement limit reached"}}"#,
        ),
        Reply::status(402),
        Reply::json(500, r#"{"error":{"message":"boom"}}"#),
        Reply::json(503, ""),
        Reply::json(401, r#"{"error":{"message":"invalid key"}}"#),
        Reply::json(200, r#"{"ok":true}"#),
        Reply::json(200, "not json"),
        Reply::json(422, r#"{"error":{"code":"VALIDATION","message":"agentId is required"}}"#),
    ])
    .await;
    let api = client(&server);
    let req = request();

    assert_eq!(
        api.enforce(&req).await.unwrap(),
        EnforceAnswer::Allowed { warnings: vec![] }
    );
    let EnforceAnswer::Allowed { warnings } = api.enforce(&req).await.unwrap() else {
        panic!("allowed with warnings")
    };
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].policy_id, "p1");
    assert_eq!(warnings[0].policy_name, "No deletes");
    assert_eq!(warnings[0].enforcement_mode, "block");
    assert_eq!(warnings[0].extra.get("ruleId"), Some(&json!("r9")));
    assert_eq!(
        api.enforce(&req).await.unwrap(),
        EnforceAnswer::Allowed { warnings: vec![] },
        "wrapped in data"
    );

    let EnforceAnswer::Blocked { violations } = api.enforce(&req).await.unwrap() else {
        panic!("blocked")
    };
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].message, "deletes are not allowed");
    assert_eq!(violations[0].policy_type, "tool_restriction");

    let err = api.enforce(&req).await.unwrap_err();
    assert_eq!(err, ApiError::Auth(403));
    assert!(!err.is_outage());
    assert_eq!(api.enforce(&req).await.unwrap_err(), ApiError::Auth(403));

    let EnforceAnswer::Blocked { violations } = api.enforce(&req).await.unwrap() else {
        panic!("blocked without details")
    };
    assert_eq!(violations.len(), 1, "never an empty block");

    assert_eq!(
        api.enforce(&req).await.unwrap(),
        EnforceAnswer::ApprovalRequired {
            approval_request_id: Some("apr_1".into())
        }
    );
    assert_eq!(
        api.enforce(&req).await.unwrap(),
        EnforceAnswer::ApprovalRequired {
            approval_request_id: None
        }
    );
    assert_eq!(
        api.enforce(&req).await.unwrap(),
        EnforceAnswer::PlanLimit {
            message: "Monthly enforcement limit reached".into(),
            resource: Some("enforcements".into()),
            current: Some(1000.0),
            max: Some(1000.0),
        }
    );
    let EnforceAnswer::PlanLimit { message, .. } = api.enforce(&req).await.unwrap() else {
        panic!("plan limit without body")
    };
    assert!(!message.is_empty());

    let err = api.enforce(&req).await.unwrap_err();
    assert_eq!(err, ApiError::Server(500));
    assert!(err.is_outage());
    assert_eq!(api.enforce(&req).await.unwrap_err(), ApiError::Server(503));
    assert_eq!(api.enforce(&req).await.unwrap_err(), ApiError::Auth(401));
    assert!(matches!(
        api.enforce(&req).await,
        Err(ApiError::Malformed(_))
    ));
    assert!(matches!(
        api.enforce(&req).await,
        Err(ApiError::Malformed(_))
    ));
    assert_eq!(
        api.enforce(&req).await.unwrap_err(),
        ApiError::Client(422, "agentId is required".into())
    );
}

#[tokio::test]
async fn auth_and_server_errors_on_reads() {
    let server = TestServer::start(vec![
        Reply::json(
            401,
            r#"{"error":{"code":"UNAUTHORIZED","message":"Invalid API key"}}"#,
        ),
        Reply::json(403, r#"{"error":{"message":"forbidden"}}"#),
        Reply::status(502),
        Reply::json(
            404,
            r#"{"error":{"code":"NOT_FOUND","message":"Agent not found"}}"#,
        ),
        Reply::json(429, "slow down"),
        Reply::status(301).with_header("Location", "http://example.com/"),
    ])
    .await;
    let api = client(&server);
    assert_eq!(api.list_policies(None).await, Err(ApiError::Auth(401)));
    assert_eq!(api.find_agent("a").await, Err(ApiError::Auth(403)));
    assert_eq!(api.agent_status("x").await, Err(ApiError::Server(502)));
    assert_eq!(
        api.agent_status("x").await,
        Err(ApiError::Client(404, "Agent not found".into()))
    );
    let err = api.health().await.unwrap_err();
    assert_eq!(err, ApiError::Client(429, String::new()));
    assert!(err.is_outage());
    // Redirects are not followed; the status is kept (see item 4: a 3xx to
    // a call's decision is not an outage).
    assert_eq!(api.health().await, Err(ApiError::UnexpectedStatus(301)));
    assert_eq!(server.requests().len(), 6);
}

#[tokio::test]
async fn endless_body_is_cut_at_the_cap() {
    let server = TestServer::start(vec![Reply::endless()]).await;
    let api = client(&server);
    let err = api.list_policies(None).await.unwrap_err();
    assert!(matches!(err, ApiError::Malformed(_)), "{err:?}");
    assert!(err.to_string().contains("limit"), "{err}");
    // Give the server a moment to notice the closed connection.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let streamed = server.streamed_bytes();
    assert!(
        streamed < execlave_core::control_plane::test_server::ENDLESS_LIMIT,
        "the client read everything ({streamed} bytes)"
    );
}

#[tokio::test]
async fn declared_large_body_is_refused_without_reading() {
    let server = TestServer::start(vec![Reply::declared_length(10 * 1024 * 1024)]).await;
    let api = client(&server);
    let started = Instant::now();
    let err = api.list_policies(None).await.unwrap_err();
    assert!(matches!(err, ApiError::Malformed(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn connection_refused_is_network() {
    let api = ApiClient::new(config(&dead_base_url().await)).unwrap();
    let err = api.health().await.unwrap_err();
    assert!(matches!(err, ApiError::Network(_)), "{err:?}");
    assert!(err.is_outage());
    assert_no_key(&err.to_string());
    assert_no_key(&format!("{err:?}"));
}

#[tokio::test]
async fn silent_server_is_network_after_the_timeout() {
    let server = TestServer::start(vec![Reply::silent()]).await;
    let mut cfg = config(&server.base_url);
    cfg.request_timeout = Duration::from_millis(300);
    let api = ApiClient::new(cfg).unwrap();
    let started = Instant::now();
    let err = api.enforce(&request()).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, ApiError::Network(_)), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[tokio::test]
async fn ingest_answers() {
    let server = TestServer::start(vec![
        Reply::json(202, r#"{"data":{"accepted":2}}"#),
        Reply::status(204),
        Reply::json(402, r#"{"error":{"message":"Trace quota exceeded"}}"#),
        Reply::json(
            400,
            r#"{"error":{"code":"VALIDATION","message":"traces[0].traceId is required"}}"#,
        ),
        Reply::status(503),
    ])
    .await;
    let api = client(&server);
    let traces = json!([{"traceId": "a"}, {"traceId": "b"}]);
    api.ingest_body(ingest_body(traces.clone())).await.unwrap();
    api.ingest_body(ingest_body(traces.clone())).await.unwrap();
    assert_eq!(
        api.ingest_body(ingest_body(traces.clone())).await,
        Err(ApiError::QuotaExceeded)
    );
    assert_eq!(
        api.ingest_body(ingest_body(traces.clone())).await,
        Err(ApiError::Client(
            400,
            "traces[0].traceId is required".into()
        ))
    );
    assert_eq!(
        api.ingest_body(ingest_body(traces.clone())).await,
        Err(ApiError::Server(503))
    );
    let r = &server.requests()[0];
    assert_eq!(r.path, "/api/v1/traces/ingest");
    assert_eq!(
        serde_json::from_slice::<Value>(&r.body).unwrap(),
        json!({"traces": traces})
    );
}

#[tokio::test]
async fn the_key_never_appears_in_errors() {
    let echo = format!(r#"{{"error":{{"message":"Invalid API key: Bearer {KEY}"}}}}"#);
    let server = TestServer::start(vec![
        Reply::json(400, &echo),
        Reply::json(401, &echo),
        Reply::json(403, &echo),
        Reply::json(500, &echo),
        Reply::json(200, &format!(r#"{{"data":{{"status":"{KEY}"}}}}"#)),
        Reply::json(402, &format!(r#"{{"error":{{"message":"{KEY}"}}}}"#)),
        Reply::json(200, &format!("not json {KEY}")),
        Reply::json(404, &echo),
    ])
    .await;
    let api = client(&server);
    let mut texts: Vec<String> = Vec::new();
    fn record(texts: &mut Vec<String>, e: ApiError) {
        texts.push(e.to_string());
        texts.push(format!("{e:?}"));
    }
    record(&mut texts, api.health().await.unwrap_err());
    record(&mut texts, api.list_policies(None).await.unwrap_err());
    record(&mut texts, api.find_agent("a").await.unwrap_err());
    record(&mut texts, api.health().await.unwrap_err());
    record(&mut texts, api.agent_status("x").await.unwrap_err());
    if let EnforceAnswer::PlanLimit { message, .. } = api.enforce(&request()).await.unwrap() {
        texts.push(message);
    } else {
        panic!("402 is a plan limit");
    }
    record(&mut texts, api.list_policies(None).await.unwrap_err());
    let client_err = api.health().await.unwrap_err();
    assert!(
        matches!(&client_err, ApiError::Client(404, m) if m.contains("[redacted]")),
        "{client_err:?}"
    );
    record(&mut texts, client_err);

    let dead = ApiClient::new(config(&dead_base_url().await)).unwrap();
    record(&mut texts, dead.health().await.unwrap_err());
    record(&mut texts, dead.enforce(&request()).await.unwrap_err());
    record(
        &mut texts,
        dead.ingest_body(ingest_body(json!([{}])))
            .await
            .unwrap_err(),
    );

    let silent = TestServer::start(vec![Reply::silent()]).await;
    let mut cfg = config(&silent.base_url);
    cfg.request_timeout = Duration::from_millis(200);
    cfg.sign_requests = true;
    record(
        &mut texts,
        ApiClient::new(cfg).unwrap().health().await.unwrap_err(),
    );

    assert_eq!(texts.len(), 23);
    for t in &texts {
        assert_no_key(t);
    }
}
