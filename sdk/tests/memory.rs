//! The in-memory pair (`arcp_sdk::memory`): a real runtime and client without sockets.

use arcp_sdk::agent::{AgentError, AgentRegistry, JobContext, typed};
use arcp_sdk::client::{ClientError, JobStatus, ResultValue, SubmitRequest};
use arcp_sdk::memory::{MemoryError, pair};
use arcp_sdk::server::{Server, ServerError};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Deserialize)]
struct Add {
    a: i64,
    b: i64,
}

#[derive(Serialize)]
struct Sum {
    sum: i64,
}

async fn add(input: Add, _: JobContext) -> Result<Sum, AgentError> {
    Ok(Sum {
        sum: input.a + input.b,
    })
}

#[tokio::test]
async fn a_job_on_a_user_agent_gives_its_exact_result() {
    let mut agents = AgentRegistry::new();
    agents.register("add", None, typed(add));
    let server = Server::builder()
        .agents(agents)
        .tokens([("t0ken", "carol")]);
    let (client, server) = pair(server, "t0ken").await.expect("pair");
    let welcome = client.welcome();
    assert_eq!(welcome.runtime.name, "arcp-tokio");
    let names: Vec<&str> = welcome.agents.iter().map(|a| a.name()).collect();
    assert_eq!(names, ["add"]);
    let job = client
        .submit(SubmitRequest::new("add", json!({"a": 40, "b": 2})))
        .await
        .unwrap();
    let outcome = job.done().await.unwrap();
    assert_eq!(outcome.status(), JobStatus::Success);
    assert_eq!(
        outcome.result(),
        Some(&ResultValue::Inline(json!({"sum": 42})))
    );
    // A typed agent's bad input: INVALID_REQUEST with serde's text.
    let job = client
        .submit(SubmitRequest::new("add", json!({"a": "x"})))
        .await
        .unwrap();
    match job.done().await {
        Err(ClientError::JobFailed { code, message, .. }) => {
            assert_eq!(code.as_str(), "INVALID_REQUEST");
            assert_eq!(
                message,
                "invalid input: invalid type: string \"x\", expected i64"
            );
        }
        other => panic!("{other:?}"),
    }
    client.close().await.unwrap();
    server.closed().await.unwrap();
}

#[tokio::test]
async fn demo_mode_serves_the_contract_agents() {
    let (client, server) = pair(Server::builder().demo(), "alice-token")
        .await
        .expect("pair");
    let job = client
        .submit(SubmitRequest::new("echo", json!({"x": [1, 2, 3]})))
        .await
        .unwrap();
    assert_eq!(
        job.done().await.unwrap().result(),
        Some(&ResultValue::Inline(json!({"x": [1, 2, 3]})))
    );
    client.close().await.unwrap();
    server.closed().await.unwrap();
}

#[tokio::test]
async fn a_runtime_without_authentication_is_refused_before_it_runs() {
    let err = pair(Server::builder(), "t").await.expect_err("refused");
    assert!(
        matches!(err, MemoryError::Server(ServerError::NoAuthentication)),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unknown_token_fails_the_handshake_unauthenticated() {
    let err = pair(Server::builder().tokens([("t0ken", "carol")]), "wrong")
        .await
        .expect_err("refused");
    match err {
        MemoryError::Client(ClientError::Refused { code, message, .. }) => {
            assert_eq!(code.as_str(), "UNAUTHENTICATED");
            assert_eq!(message, "invalid bearer token");
        }
        other => panic!("{other:?}"),
    }
}
