//! Mail addresses in config and job files, which may be Handlebars templates
//! (`reporter@{{host.fqdn}}`), checked when the file loads.

use std::fmt;
use std::str::FromStr;

use lettre::message::Mailbox;
use serde::de::{self, Deserialize, Deserializer};

/// What is wrong with an address in a file or rendered from a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("invalid mail address {0:?} (expected user@host or \"Name <user@host>\")")]
    Invalid(String),
    #[error("invalid template in address {text:?}: {reason}")]
    Template { text: String, reason: String },
}

/// `user@host`, `Name <user@host>`, or a template rendering to one of those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressSpec(String);

const DEFAULT_FROM: &str = "reporter@{{host.fqdn}}";

impl AddressSpec {
    /// reporter's own default sender, `reporter@{{host.fqdn}}` (reporter.yaml(5)): built without
    /// compiling it at every start, as the test below checks that it would compile.
    pub fn default_from() -> AddressSpec {
        AddressSpec(DEFAULT_FROM.to_owned())
    }

    pub fn is_template(&self) -> bool {
        self.0.contains("{{")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Parses a rendered address; the message names the value and what was expected.
pub fn parse_mailbox(text: &str) -> Result<Mailbox, AddressError> {
    text.trim()
        .parse::<Mailbox>()
        .map_err(|_| AddressError::Invalid(text.to_owned()))
}

impl FromStr for AddressSpec {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let spec = AddressSpec(text.trim().to_owned());
        if spec.is_template() {
            handlebars::Template::compile(&spec.0).map_err(|e| AddressError::Template {
                text: text.to_owned(),
                reason: e.reason().to_string(),
            })?;
        } else {
            parse_mailbox(&spec.0)?;
        }
        Ok(spec)
    }
}

impl fmt::Display for AddressSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

crate::config::units::deserialize_via_from_str!(AddressSpec);

/// `to:` and `cc:` take one address or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressList(pub Vec<AddressSpec>);

impl<'de> Deserialize<'de> for AddressList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = AddressList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an address or a list of addresses")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AddressList, E> {
                v.parse().map(|a| AddressList(vec![a])).map_err(E::custom)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<AddressList, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(AddressList)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_named_addresses() {
        assert!("staff@example.com".parse::<AddressSpec>().is_ok());
        assert!("Ops Team <ops@example.com>".parse::<AddressSpec>().is_ok());
        assert!(
            "reporter@{{host.fqdn}}"
                .parse::<AddressSpec>()
                .unwrap()
                .is_template()
        );
    }

    #[test]
    fn the_default_sender_is_a_valid_template() {
        let parsed: AddressSpec = DEFAULT_FROM.parse().unwrap();
        assert_eq!(parsed, AddressSpec::default_from());
        assert!(parsed.is_template());
    }

    #[test]
    fn bad_addresses_are_explained() {
        let err = "staff at example.com"
            .parse::<AddressSpec>()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid mail address \"staff at example.com\""),
            "{err}"
        );
        let err = "x@{{host.fqdn"
            .parse::<AddressSpec>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid template"), "{err}");
    }
}
