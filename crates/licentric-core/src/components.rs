//! The machine's components beside its machine id — the board's UUID and serial, the root
//! disk's serial, the physical network cards' addresses, the CPU model — each hashed on its
//! own for one product, so that a licence can survive one part changing (a new disk, a
//! reinstalled OS) and the user can be told, in words, which part did.
//!
//! A component's hash is `hex(HMAC-SHA256(key = its value, msg = "licentric.component.v1:" +
//! kind + ":" + product_id))`: the fingerprint's derivation with a label of its own. No raw
//! value leaves the machine, and two products see unrelated hashes. (A value with little to
//! guess — a CPU model — can be guessed from its hash by whoever tries every model; none of
//! these is a secret, and the activation already names the host.) This module does no I/O:
//! the platform layer reads the values.

use std::fmt;

use zeroize::Zeroizing;

const LABEL: &str = "licentric.component.v1:";

/// What kind of part a component is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentKind {
    /// The operating system's machine id (what the fingerprint itself is made from).
    MachineId,
    /// The firmware's (DMI / SMBIOS) product UUID.
    BoardUuid,
    /// The main board's serial number.
    BoardSerial,
    /// The serial number of the disk the system runs from.
    DiskSerial,
    /// A physical network card's hardware address (one component per card).
    NetworkCard,
    /// The CPU's model name.
    CpuModel,
}

impl ComponentKind {
    /// Every kind, in the order they are listed.
    pub const ALL: [ComponentKind; 6] = [
        ComponentKind::MachineId,
        ComponentKind::BoardUuid,
        ComponentKind::BoardSerial,
        ComponentKind::DiskSerial,
        ComponentKind::NetworkCard,
        ComponentKind::CpuModel,
    ];

    /// The stable name, on the wire and in the derivation.
    pub const fn as_str(self) -> &'static str {
        match self {
            ComponentKind::MachineId => "machine_id",
            ComponentKind::BoardUuid => "board_uuid",
            ComponentKind::BoardSerial => "board_serial",
            ComponentKind::DiskSerial => "disk_serial",
            ComponentKind::NetworkCard => "network_card",
            ComponentKind::CpuModel => "cpu_model",
        }
    }

    /// The kind named `name` (its [`as_str`](Self::as_str)), if there is one.
    pub fn parse(name: &str) -> Option<ComponentKind> {
        ComponentKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether the part identifies a machine on its own: every part but the processor's
    /// model, which many machines share.
    pub const fn identifies(self) -> bool {
        !matches!(self, ComponentKind::CpuModel)
    }

    /// The part in words, for the user.
    pub const fn describe(self) -> &'static str {
        match self {
            ComponentKind::MachineId => "operating system installation",
            ComponentKind::BoardUuid => "firmware (board) identifier",
            ComponentKind::BoardSerial => "main board",
            ComponentKind::DiskSerial => "system disk",
            ComponentKind::NetworkCard => "network card",
            ComponentKind::CpuModel => "processor",
        }
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A component's raw value as read: never shown, never sent, wiped on drop.
pub struct RawComponent {
    kind: ComponentKind,
    value: Zeroizing<String>,
}

impl fmt::Debug for RawComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawComponent({}, <redacted>)", self.kind)
    }
}

impl RawComponent {
    /// A component of `kind` from the text the platform read: trimmed, inner white space
    /// collapsed, lower-cased. `None` for what identifies nothing: empty, a placeholder
    /// firmware value ("To be filled by O.E.M.", "Default string", all zeros or all `f`),
    /// or longer than 256 bytes.
    pub fn new(kind: ComponentKind, text: &str) -> Option<RawComponent> {
        let value = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        let placeholder = [
            "to be filled by o.e.m.",
            "default string",
            "not specified",
            "not applicable",
            "none",
            "system serial number",
            "0123456789",
        ]
        .contains(&value.as_str())
            || value
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .all(|c| c == '0' || c == 'f');
        (!value.is_empty() && value.len() <= 256 && !placeholder).then(|| RawComponent {
            kind,
            value: Zeroizing::new(value),
        })
    }

    /// Its kind.
    pub fn kind(&self) -> ComponentKind {
        self.kind
    }

    /// Its hash for `product_id`.
    pub fn hash(&self, product_id: &str) -> ComponentHash {
        let mac = crate::hmac_sha256(
            self.value.as_bytes(),
            &[
                LABEL.as_bytes(),
                self.kind.as_str().as_bytes(),
                b":",
                product_id.as_bytes(),
            ],
        );
        ComponentHash {
            kind: self.kind,
            hash: crate::hex::encode(&mac),
        }
    }
}

/// A component as a product sees it: its kind and hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentHash {
    /// What part it is.
    pub kind: ComponentKind,
    /// 64 lower-case hex characters.
    pub hash: String,
}

impl ComponentHash {
    /// The first 8 characters, enough to tell two apart when explaining.
    pub fn short(&self) -> &str {
        &self.hash[..8]
    }
}

/// The most parts a machine may present (a request's `components`).
pub const MAX_COMPONENTS: usize = 16;

/// Whether `components` (as sent: kind names and hashes) are well formed: at most
/// [`MAX_COMPONENTS`], each of a known kind with a hash of 64 lower-case hex characters, and
/// one of each kind but network cards (a machine has one system disk, one board, one
/// processor model; several hashes of one kind would let a claim guess at another machine's).
pub fn well_formed(components: &[licentric_proto::api::MachineComponent]) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    components.len() <= MAX_COMPONENTS
        && components.iter().all(|c| {
            ComponentKind::parse(&c.kind).is_some_and(|kind| {
                kind == ComponentKind::NetworkCard || seen.insert(kind.as_str())
            }) && c.hash.len() == 64
                && c.hash
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

/// The hashes of `components` for `product_id`, sorted by kind then hash, without repeats.
pub fn hash_all(components: &[RawComponent], product_id: &str) -> Vec<ComponentHash> {
    let mut hashes: Vec<ComponentHash> = components.iter().map(|c| c.hash(product_id)).collect();
    hashes.sort();
    hashes.dedup();
    hashes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_matches_an_independent_hmac() {
        // Python: hmac.new(b"intel(r) xeon(r) cpu", b"licentric.component.v1:cpu_model:acme-cad",
        //   hashlib.sha256).hexdigest()
        let cpu = RawComponent::new(ComponentKind::CpuModel, "  Intel(R)   Xeon(R) CPU\n").unwrap();
        assert_eq!(
            cpu.hash("acme-cad").hash,
            "344b10597fc89ea01deecc133cba866afffca236e869080c404ee60d81c914d3"
        );
    }

    #[test]
    fn only_network_cards_may_come_more_than_once() {
        let part = |kind: &str, c: char| licentric_proto::api::MachineComponent {
            kind: kind.to_owned(),
            hash: c.to_string().repeat(64),
        };
        assert!(well_formed(&[
            part("network_card", 'a'),
            part("network_card", 'b'),
            part("cpu_model", 'c'),
        ]));
        // Guesses at another machine's processor (or disk, board…) in one claim.
        assert!(!well_formed(&[
            part("cpu_model", 'a'),
            part("cpu_model", 'b')
        ]));
        assert!(!well_formed(&[
            part("disk_serial", 'a'),
            part("disk_serial", 'a')
        ]));
    }

    #[test]
    fn each_kind_and_product_gets_its_own_hash() {
        let a = RawComponent::new(ComponentKind::DiskSerial, "S3Z8NB0K123456").unwrap();
        let b = RawComponent::new(ComponentKind::BoardSerial, "S3Z8NB0K123456").unwrap();
        assert_ne!(a.hash("p").hash, b.hash("p").hash);
        assert_ne!(a.hash("p").hash, a.hash("q").hash);
        assert_eq!(a.hash("p").short().len(), 8);
        assert!(!format!("{a:?}").contains("S3Z8"), "never shown");
        for kind in ComponentKind::ALL {
            assert_eq!(ComponentKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ComponentKind::parse("toaster"), None);
    }

    #[test]
    fn placeholders_identify_nothing() {
        for empty in [
            "",
            "  ",
            "To be filled by O.E.M.",
            "Default string",
            "00000000-0000-0000-0000-000000000000",
            "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
            "00:00:00:00:00:00",
        ] {
            assert!(
                RawComponent::new(ComponentKind::BoardUuid, empty).is_none(),
                "{empty:?}"
            );
        }
        assert!(RawComponent::new(ComponentKind::NetworkCard, "52:54:00:12:34:56").is_some());
    }

    #[test]
    fn a_list_is_sorted_and_without_repeats() {
        let raw = [
            RawComponent::new(ComponentKind::NetworkCard, "52:54:00:12:34:56").unwrap(),
            RawComponent::new(ComponentKind::CpuModel, "x").unwrap(),
            RawComponent::new(ComponentKind::NetworkCard, "52:54:00:12:34:56").unwrap(),
        ];
        let hashes = hash_all(&raw, "p");
        assert_eq!(hashes.len(), 2);
        assert_eq!(hashes[0].kind, ComponentKind::NetworkCard);
        assert_eq!(hashes[1].kind, ComponentKind::CpuModel);
    }
}
