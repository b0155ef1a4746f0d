//! [`AgentRegistry`]: named, versioned agents; feeds `RuntimeConfig.agents` and resolves the
//! agent of an `Effect::StartAgent`.

use crate::agent::Agent;
use arcp_proto::runtime::AgentSpec;
use arcp_proto::wire::AgentRef;
use std::sync::Arc;

struct Entry {
    name: String,
    /// `(version, agent)` in registration order; one `(None, _)` for an unversioned agent.
    versions: Vec<(Option<String>, Arc<dyn Agent>)>,
    default: Option<String>,
}

/// Named, optionally versioned agents.
#[derive(Default)]
pub struct AgentRegistry {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for AgentRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.specs()).finish()
    }
}

impl AgentRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        AgentRegistry::default()
    }

    /// Registers `agent` as `name` at `version` (`None`: unversioned). Registering the same
    /// name and version again replaces the agent. Mixing versioned and unversioned
    /// registrations of one name keeps only the versioned ones visible to `specs`.
    pub fn register(&mut self, name: &str, version: Option<&str>, agent: impl Agent) -> &mut Self {
        self.register_arc(name, version, Arc::new(agent))
    }

    /// [`AgentRegistry::register`] with a shared agent.
    pub fn register_arc(
        &mut self,
        name: &str,
        version: Option<&str>,
        agent: Arc<dyn Agent>,
    ) -> &mut Self {
        let version = version.map(str::to_owned);
        let pos = match self.entries.iter().position(|e| e.name == name) {
            Some(p) => p,
            None => {
                self.entries.push(Entry {
                    name: name.to_owned(),
                    versions: Vec::new(),
                    default: None,
                });
                self.entries.len() - 1
            }
        };
        if let Some(e) = self.entries.get_mut(pos) {
            match e.versions.iter_mut().find(|(v, _)| *v == version) {
                Some(slot) => slot.1 = agent,
                None => e.versions.push((version, agent)),
            }
        }
        self
    }

    /// Makes `version` the version a bare `name` resolves to. `false` when `name@version`
    /// is not registered.
    pub fn set_default(&mut self, name: &str, version: &str) -> bool {
        let Some(e) = self.entries.iter_mut().find(|e| e.name == name) else {
            return false;
        };
        if !e
            .versions
            .iter()
            .any(|(v, _)| v.as_deref() == Some(version))
        {
            return false;
        }
        e.default = Some(version.to_owned());
        true
    }

    /// The inventory, in registration order: feed it to `RuntimeConfig.agents`.
    pub fn specs(&self) -> Vec<AgentSpec> {
        self.entries
            .iter()
            .map(|e| AgentSpec {
                name: e.name.clone(),
                versions: e.versions.iter().filter_map(|(v, _)| v.clone()).collect(),
                default: e.default.clone(),
            })
            .collect()
    }

    fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    fn default_version(e: &Entry) -> Option<&str> {
        e.default
            .as_deref()
            .or_else(|| e.versions.iter().find_map(|(v, _)| v.as_deref()))
    }

    /// `r` resolved as the runtime does (§7.5): a bare name gets the default version (none
    /// for an unversioned agent). `None` when not registered.
    pub fn resolve_ref(&self, r: &AgentRef) -> Option<AgentRef> {
        let e = self.entry(&r.name)?;
        match &r.version {
            Some(v) => e
                .versions
                .iter()
                .any(|(x, _)| x.as_deref() == Some(v))
                .then(|| r.clone()),
            None => Some(AgentRef::new(
                e.name.clone(),
                Self::default_version(e).map(str::to_owned),
            )),
        }
    }

    /// The agent `r` names (a bare name: the default version, or the unversioned agent).
    pub fn resolve(&self, r: &AgentRef) -> Option<Arc<dyn Agent>> {
        let e = self.entry(&r.name)?;
        let want = match &r.version {
            Some(v) => Some(v.as_str()),
            None => Self::default_version(e),
        };
        e.versions
            .iter()
            .find(|(v, _)| v.as_deref() == want)
            .map(|(_, a)| a.clone())
    }
}
