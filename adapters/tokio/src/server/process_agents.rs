//! The server builder's process agents ([`ServerBuilder::process_agent`],
//! [`ServerBuilder::agent_default`]): merged into the agent registry when the server starts.

use super::{ServerBuilder, ServerError};
use crate::process_agent::{ProcessAgent, register_process_agents};
use arcp_agents::AgentRegistry;
use arcp_host::server::ServerOptions;

/// Process agents and default versions to add to the registry.
#[derive(Debug, Default)]
pub(super) struct ProcessAgents {
    agents: Vec<(String, Option<String>, ProcessAgent)>,
    defaults: Vec<(String, String)>,
}

fn config(message: String) -> ServerError {
    ServerError::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        message,
    ))
}

impl ServerBuilder {
    /// Hosts `agent` (a program, one process per job) as `name` at `version` (`None`:
    /// unversioned), added to the agents configured with `agents` (or, in demo mode, the
    /// demo agents). The same name and version registered already (a demo agent, say) is
    /// replaced. The first version registered for a name is its default unless
    /// [`Self::agent_default`] says otherwise. Mixing versioned and unversioned agents of
    /// one name fails [`Self::bind_ws`] / [`Self::serve_io`] with an `InvalidInput` error.
    pub fn process_agent(mut self, name: &str, version: Option<&str>, agent: ProcessAgent) -> Self {
        self.process_agents
            .agents
            .push((name.to_owned(), version.map(str::to_owned), agent));
        self
    }

    /// Makes `name@version` the version a bare `name` resolves to (a built-in or a
    /// [`Self::process_agent`]). Starting the server fails with an `InvalidInput` error when
    /// it is not registered.
    pub fn agent_default(mut self, name: &str, version: &str) -> Self {
        self.process_agents
            .defaults
            .push((name.to_owned(), version.to_owned()));
        self
    }
}

impl ProcessAgents {
    /// Puts the process agents and defaults into `opts.agents`.
    pub(super) fn apply(self, opts: &mut ServerOptions) -> Result<(), ServerError> {
        if self.agents.is_empty() && self.defaults.is_empty() {
            return Ok(());
        }
        let demo = opts.demo;
        let mut registry = opts.agents.take().unwrap_or_else(|| {
            if demo {
                arcp_agents::demo_agents()
            } else {
                AgentRegistry::new()
            }
        });
        register_process_agents(&mut registry, self.agents, &self.defaults).map_err(config)?;
        opts.agents = Some(registry);
        Ok(())
    }
}
