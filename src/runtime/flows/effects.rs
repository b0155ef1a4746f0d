//! Answers to effects: each outstanding effect id maps to what it was for ([`Pending`]), and
//! its outcome is routed to the flow that waits for it.

use crate::runtime::effect::{EffectId, EffectOutcome};
use crate::runtime::event::RuntimeEvent;
use crate::runtime::jobs::Waiter;
use crate::runtime::{Pending, Runtime};
use crate::time::Instant;
use crate::wire::{ErrorCode, ErrorPayload};

impl Runtime {
    /// Routes a finished effect.
    pub(in crate::runtime) fn complete_effect(
        &mut self,
        now: Instant,
        id: EffectId,
        p: Pending,
        outcome: EffectOutcome,
    ) {
        match p {
            Pending::Auth(req) => {
                let principal = match outcome {
                    EffectOutcome::Authenticated { principal } => Ok(principal),
                    EffectOutcome::AuthFailed { reason, message } => {
                        self.out.metrics_mut().auth_failed(&reason);
                        Err(message)
                    }
                    EffectOutcome::Failed { message } => {
                        self.out.metrics_mut().auth_failed("failed");
                        Err(message)
                    }
                    _ => {
                        self.out.metrics_mut().auth_failed("invalid_outcome");
                        Err("invalid bearer token".to_owned())
                    }
                };
                self.auth_done(now, id, *req, principal);
            }
            Pending::Mint(nj) => match outcome {
                EffectOutcome::Minted { credentials } => self.accept(now, *nj, credentials),
                EffectOutcome::Failed { message } => {
                    let e = ErrorPayload::new(
                        ErrorCode::InternalError,
                        format!("credential provisioning failed: {message}"),
                    );
                    let mut answer = self.jobs.end_minting(&nj.job_id);
                    if let (Some(conn), Some(rid)) = (nj.conn, nj.request_id.clone()) {
                        answer.insert(
                            0,
                            Waiter {
                                conn,
                                session_id: nj.session_id.clone(),
                                request_id: rid,
                            },
                        );
                    }
                    for w in answer {
                        self.send_error(now, w.conn, e.clone().with_request_id(w.request_id));
                    }
                    if let Some((key, _)) = &nj.idempotency {
                        self.jobs.forget_key(&nj.principal, key);
                    }
                    self.release_job_slot(&nj.session_id);
                    if let Some(parent) = &nj.parent_job_id {
                        // The whole reservation goes back (§10).
                        self.jobs.detach_child(parent, &nj.job_id, None);
                    }
                }
                _ => self.accept(now, *nj, Vec::new()),
            },
            Pending::Start { job_id } => {
                if let EffectOutcome::Failed { message } = outcome {
                    self.fail_job(now, &job_id, ErrorCode::InternalError, message, false);
                }
            }
            Pending::Revoke { job_id, serial } => self.revoke_done(now, &job_id, serial, outcome),
            Pending::Append { session_id, seq } => {
                if let EffectOutcome::Failed { message } = outcome {
                    self.out.push_event(RuntimeEvent::StorageFailed { message });
                }
                self.append_done(&session_id, seq);
            }
            Pending::Welcome(pw) => {
                let ok = match outcome {
                    EffectOutcome::Failed { message } => Err(message),
                    _ => Ok(()),
                };
                self.welcome_persisted(now, id, *pw, ok);
            }
            Pending::StorePage { session_id, conn } => {
                let frames = match outcome {
                    EffectOutcome::EventsRead { frames } => Some(frames),
                    _ => None,
                };
                self.store_page_read(now, conn, &session_id, frames);
            }
            Pending::ReadForResume(pw) => {
                let frames = match outcome {
                    EffectOutcome::EventsRead { frames } => Some(frames),
                    _ => None,
                };
                self.resume_read(now, id, *pw, frames);
            }
            Pending::Claim(principal, req) => {
                self.session_claimed(now, id, principal, *req, outcome);
            }
            Pending::Remote(req) => self.remote_answered(now, *req, outcome),
            Pending::RemotePoll {
                session_id,
                job_id,
                generation,
            } => self.remote_polled(now, &session_id, &job_id, generation, outcome),
            Pending::AdmitJob { job_id } => self.job_admitted(now, &job_id, outcome),
            Pending::AdmitSession(principal, sid, req) => {
                self.session_admitted(now, id, principal, sid, *req, outcome);
            }
        }
    }
}
