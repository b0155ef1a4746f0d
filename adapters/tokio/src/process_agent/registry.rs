//! Adding process agents to an [`AgentRegistry`] with the rules of `arcp serve --agent`: the
//! same name and version replaces, a name is either versioned or not, defaults must exist.

use super::ProcessAgent;
use arcp_agents::AgentRegistry;

/// Registers each `(name, version, agent)` in `registry` (the same name and version already
/// there — a built-in agent, say — is replaced; the first version of a name stays its
/// default), then makes each `(name, version)` of `defaults` the default of its name.
/// `Err` says why not: an unversioned agent for a name registered with versions (or the
/// reverse), or a default that is not registered. `registry` may be partly changed then.
pub fn register_process_agents(
    registry: &mut AgentRegistry,
    agents: impl IntoIterator<Item = (String, Option<String>, ProcessAgent)>,
    defaults: &[(String, String)],
) -> Result<(), String> {
    for (name, version, agent) in agents {
        if let Some(spec) = registry.specs().into_iter().find(|s| s.name == name) {
            match (&version, spec.versions.is_empty()) {
                (None, false) => {
                    return Err(format!(
                        "agent {name} is registered with versions ({}): give {name}@VERSION",
                        spec.versions.join(", ")
                    ));
                }
                (Some(v), true) => {
                    return Err(format!(
                        "agent {name} is registered without a version: give {name}, not {name}@{v}"
                    ));
                }
                _ => {}
            }
        }
        registry.register(&name, version.as_deref(), agent);
    }
    for (name, version) in defaults {
        if !registry.set_default(name, version) {
            return Err(format!(
                "agent default {name}@{version} is not a registered agent"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> ProcessAgent {
        ProcessAgent::new("true", Vec::<String>::new())
    }

    #[test]
    fn process_agents_replace_and_add_versions_with_the_first_as_default() {
        let mut r = arcp_agents::contract_agents();
        register_process_agents(
            &mut r,
            [
                ("echo".to_owned(), Some("1.0.0".to_owned()), p()),
                ("echo".to_owned(), Some("2.0.0".to_owned()), p()),
                ("tool".to_owned(), None, p()),
            ],
            &[],
        )
        .unwrap();
        let specs = r.specs();
        let echo = specs.iter().find(|s| s.name == "echo").unwrap();
        assert_eq!(echo.versions, vec!["1.0.0".to_owned(), "2.0.0".to_owned()]);
        let bare = arcp_proto::wire::AgentRef::parse("echo").unwrap();
        assert_eq!(r.resolve_ref(&bare).unwrap().to_string(), "echo@1.0.0");
        register_process_agents(&mut r, [], &[("echo".into(), "2.0.0".into())]).unwrap();
        assert_eq!(r.resolve_ref(&bare).unwrap().to_string(), "echo@2.0.0");
    }

    #[test]
    fn mixing_versioned_and_unversioned_or_a_missing_default_is_refused() {
        let mut r = arcp_agents::contract_agents();
        let e = register_process_agents(&mut r, [("echo".into(), None, p())], &[]);
        assert_eq!(
            e.unwrap_err(),
            "agent echo is registered with versions (1.0.0): give echo@VERSION"
        );
        let e = register_process_agents(
            &mut r,
            [("t".into(), None, p()), ("t".into(), Some("1".into()), p())],
            &[],
        );
        assert_eq!(
            e.unwrap_err(),
            "agent t is registered without a version: give t, not t@1"
        );
        let e = register_process_agents(&mut r, [], &[("echo".into(), "9".into())]);
        assert_eq!(
            e.unwrap_err(),
            "agent default echo@9 is not a registered agent"
        );
    }
}
