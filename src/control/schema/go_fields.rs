//! How Go's decoder applies every spelling of a field: `field` with its `OnNull` rule, and `raw`.

use crate::control::go_json::{Json, Object};

/// How a Go field takes a JSON null.
#[derive(Clone, Copy)]
pub(super) enum OnNull {
    /// A plain field (string, bool, number): a null changes nothing.
    Keep,
    /// A type that parses itself (`UnmarshalJSON`: flannel's `ip.IP4`,
    /// `ip.IP4Net`, `hardwareAddr`): the null goes to the parser too.
    Parse,
    /// A pointer to such a type (`*ip.IP6`): a null makes it nil again.
    Reset,
}

/// Every occurrence of field `name` (any spelling) in order, as Go's
/// decoder assigns them: the last one wins, but one that `read` refuses
/// fails the whole decode even when a later spelling is good (Go keeps
/// the first such error). `Err`: that first error.
pub(super) fn field<'a, T, E>(
    obj: &'a Object,
    name: &str,
    on_null: OnNull,
    read: impl Fn(&'a Json) -> Result<T, E>,
) -> Result<Option<T>, E> {
    let mut last = None;
    for v in obj.get(name).into_iter().flat_map(|f| f.values()) {
        last = match (v.is_null(), on_null) {
            (true, OnNull::Keep) => last,
            (true, OnNull::Reset) => None,
            _ => Some(read(v)?),
        };
    }
    Ok(last)
}

/// A `json.RawMessage` (`Backend`, `BackendData`): the last occurrence
/// as it is, which flannel parses later; None if absent or a null (Go
/// keeps the literal `null`, which then decodes to nothing).
pub(super) fn raw<'a>(obj: &'a Object, name: &str) -> Option<&'a Json> {
    obj.get(name).map(|f| f.last()).filter(|v| !v.is_null())
}
