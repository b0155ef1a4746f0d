//! The client API conformance suite (arcp-interop's, written once) against arcp-blocking's
//! client, its events read through the blocking `Iterator`, and an in-process arcp-blocking
//! server; and the event loop that cancels its own job, written out.

use arcp_blocking::client::{
    Client, ClientError, ClientOptions, Events, JobEventItem, JobHandle, JobId, JobOutcome,
    JobStatus, Jobs, ListJobsRequest, SubmitRequest,
};
use arcp_blocking::server::Server;
use arcp_interop::conformance::{Conformance, ConformanceClient, ConformanceJob, run_all};

struct Blocking;

struct View(Client);

struct Job {
    events: Events<arcp_client::JobEvents<arcp_blocking::client::BlockingLink>>,
    handle: JobHandle,
}

fn job(handle: JobHandle) -> Box<dyn ConformanceJob> {
    Box::new(Job {
        events: handle.events(),
        handle,
    })
}

impl Conformance for Blocking {
    fn connect(
        &self,
        options: ClientOptions,
    ) -> Result<Box<dyn ConformanceClient + '_>, ClientError> {
        Ok(Box::new(View(Client::connect_with(options)?)))
    }
}

impl ConformanceClient for View {
    fn submit(&self, req: SubmitRequest) -> Result<Box<dyn ConformanceJob + '_>, ClientError> {
        self.0.submit(req).map(job)
    }

    fn subscribe(
        &self,
        job_id: &JobId,
        history: bool,
    ) -> Result<(Box<dyn ConformanceJob + '_>, u64), ClientError> {
        let sub = self.0.subscribe(job_id, history)?;
        let replayed = sub.replayed();
        Ok((job(sub.handle), replayed))
    }

    fn list_jobs(&self, req: ListJobsRequest) -> Result<Jobs, ClientError> {
        self.0.list_jobs(req)
    }

    fn ack(&self, seq: u64) -> Result<(), ClientError> {
        self.0.ack(seq)
    }

    fn drop_transport(&self) -> Result<(), ClientError> {
        self.0.drop_transport()
    }

    fn close(&self) -> Result<(), ClientError> {
        self.0.close()
    }

    fn latest_event_seq(&self) -> u64 {
        self.0.latest_event_seq()
    }

    fn welcomes(&self) -> u64 {
        self.0.session().welcomes()
    }
}

impl ConformanceJob for Job {
    fn job_id(&self) -> JobId {
        self.handle.job_id().clone()
    }

    fn next_event(&mut self) -> Option<JobEventItem> {
        self.events.next()
    }

    fn cancel(&self) -> Result<(), ClientError> {
        self.handle.cancel()
    }

    fn done(self: Box<Self>) -> Result<JobOutcome, ClientError> {
        let Job { events, handle } = *self;
        drop(events);
        handle.done()
    }
}

#[test]
fn the_client_api_conforms() {
    let (url, server) = Server::builder()
        .demo()
        .bind_ws("127.0.0.1:0", "/arcp")
        .expect("bind");
    run_all(&Blocking, &url);
    server.shutdown();
}

#[test]
fn a_job_is_cancelled_from_inside_its_event_iterator() {
    let (url, server) = Server::builder()
        .demo()
        .bind_ws("127.0.0.1:0", "/arcp")
        .expect("bind");
    let client = Client::connect(&url, "alice-token").unwrap();
    let job = client
        .submit(SubmitRequest::new(
            "slow",
            serde_json::json!({"seconds": 30, "tick": 0.05}),
        ))
        .unwrap();
    for (n, _event) in job.events().enumerate() {
        if n == 0 {
            job.cancel().unwrap();
        }
    }
    assert_eq!(job.done().unwrap().status(), JobStatus::Cancelled);
    client.close().unwrap();
    server.shutdown();
}
