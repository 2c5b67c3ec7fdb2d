//! JSON read the way flanneld's Go `encoding/json` reads it into a struct.
//!
//! Go matches an object's keys to a struct's fields ASCII-case-insensitively
//! and applies every occurrence of a field, in document order. What an
//! occurrence does depends on the field's Go type (a plain string, bool or
//! number: the last non-null one wins, but a wrong type anywhere fails the
//! decode; a type that parses itself, like flannel's `ip.IP4`: every
//! occurrence must parse, `null` included; ...). So `parse` keeps every
//! occurrence, grouped by the case-folded key, and `schema` applies the
//! rule of each field's Go type.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

/// Parses `bytes`, grouping each object's keys as Go matches them.
pub fn parse(bytes: &[u8]) -> Result<Json, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// A JSON value whose objects keep every occurrence of every key.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    Object(Object),
}

/// An object: its fields (one per ASCII-case-insensitive key), each with
/// every occurrence in document order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Object {
    /// In the order of each key's first occurrence.
    fields: Vec<Field>,
    /// ASCII-lower-cased key -> index in `fields`: one hash lookup per key.
    /// Scanning the earlier keys instead made a value of many keys
    /// quadratic (390 KB: 17 s on the control thread).
    index: HashMap<String, usize>,
}

/// Every occurrence of one key, whatever its letter case.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// (spelling, value), in document order; never empty.
    occurrences: Vec<(String, Json)>,
}

#[cfg(test)]
thread_local! {
    /// Index lookups made while grouping keys (see the tests).
    static PROBES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl Object {
    fn push(&mut self, key: String, value: Json) {
        #[cfg(test)]
        PROBES.with(|p| p.set(p.get() + 1));
        match self.index.entry(key.to_ascii_lowercase()) {
            std::collections::hash_map::Entry::Occupied(e) => {
                self.fields[*e.get()].occurrences.push((key, value));
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(self.fields.len());
                self.fields.push(Field {
                    occurrences: vec![(key, value)],
                });
            }
        }
    }

    /// The field `name` (any letter case), if the object has it.
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.index
            .get(&name.to_ascii_lowercase())
            .map(|&i| &self.fields[i])
    }

    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter()
    }
}

impl Field {
    /// Every value, in document order.
    pub fn values(&self) -> impl Iterator<Item = &Json> {
        self.occurrences.iter().map(|(_, v)| v)
    }

    /// The last occurrence: what Go leaves in a field that takes any
    /// value as it is (`json.RawMessage`), or a pointer (null: nil).
    pub fn last(&self) -> &Json {
        self.occurrences.last().map_or(&Json::Null, |(_, v)| v)
    }

    /// The last non-null occurrence and its spelling: what Go leaves in a
    /// plain field (a null does not change it).
    pub fn last_set(&self) -> Option<(&str, &Json)> {
        self.occurrences
            .iter()
            .rev()
            .find(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.as_str(), v))
    }
}

impl Json {
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// A non-negative integer (as Go decodes into an unsigned field:
    /// `1.0` and `1e2` are not).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) => n.as_u64(),
            _ => None,
        }
    }
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Json::Object(o) => Some(o),
            _ => None,
        }
    }

    /// As serde_json's value, an object's keys by their last occurrence
    /// (for messages).
    pub fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(s) => Value::String(s.clone()),
            Json::Array(a) => Value::Array(a.iter().map(Json::to_value).collect()),
            Json::Object(o) => Value::Object(
                o.fields
                    .iter()
                    .filter_map(|f| f.occurrences.last())
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_value().fmt(f)
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(Json::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Json, A::Error> {
        let mut obj = Object::default();
        while let Some((key, value)) = entries.next_entry::<String, Json>()? {
            obj.push(key, value);
        }
        Ok(Json::Object(obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn occurrences(json: &str, name: &str) -> Vec<(String, Value)> {
        let v = parse(json.as_bytes()).unwrap();
        let f = v.as_object().unwrap().get(name);
        f.map(|f| {
            f.occurrences
                .iter()
                .map(|(k, v)| (k.clone(), v.to_value()))
                .collect()
        })
        .unwrap_or_default()
    }

    /// Every spelling of a key lands in one field, in document order; the
    /// schema decides what each occurrence means to Go.
    #[test]
    fn every_occurrence_of_a_key_is_kept_in_document_order() {
        let s = |k: &str, v: &str| (k.to_string(), Value::String(v.into()));
        assert_eq!(
            occurrences(r#"{"Network":"a","x":1,"network":"b"}"#, "NETWORK"),
            vec![s("Network", "a"), s("network", "b")]
        );
        assert_eq!(
            occurrences(r#"{"network":"a","Network":null}"#, "Network"),
            vec![s("network", "a"), ("Network".into(), Value::Null)]
        );
        assert!(occurrences(r#"{"Other":1}"#, "Network").is_empty());
        let v = parse(br#"{"network":"a","Network":null,"n":[1,{"A":2,"a":3}]}"#).unwrap();
        let f = v.as_object().unwrap().get("network").unwrap();
        assert_eq!(f.last(), &Json::Null);
        assert_eq!(f.last_set(), Some(("network", &Json::String("a".into()))));
        // Nested objects group the same way; a message shows the last.
        assert_eq!(v.to_string(), r#"{"Network":null,"n":[1,{"a":3}]}"#);
    }

    #[test]
    fn values_and_errors_are_serde_json_s() {
        let v = parse(br#"{"a":[1,-2,2.5,true,null,"x"],"b":{}}"#).unwrap();
        assert_eq!(
            v.to_value(),
            serde_json::json!({"a":[1,-2,2.5,true,null,"x"],"b":{}})
        );
        assert_eq!(parse(b"7").unwrap().as_u64(), Some(7));
        assert_eq!(parse(b"7.0").unwrap().as_u64(), None);
        assert_eq!(parse(b"-7").unwrap().as_u64(), None);
        assert!(parse(b"{\"a\":").is_err());
        assert!(parse(b"").is_err());
    }

    /// Grouping costs one index lookup per key, however many keys came
    /// before (each key scanned every earlier one: quadratic, 17 s for a
    /// 390 KB lease value on the single control thread).
    #[test]
    fn grouping_many_keys_is_one_lookup_per_key() {
        let n = 5_000;
        let mut doc = String::from("{");
        for i in 0..n {
            doc.push_str(&format!("\"k{i}\":{i},"));
        }
        doc.push_str("\"K4999\":\"last\"}");
        PROBES.with(|p| p.set(0));
        let v = parse(doc.as_bytes()).unwrap();
        assert_eq!(PROBES.with(|p| p.get()), n + 1);
        let o = v.as_object().unwrap();
        assert_eq!(o.fields().count(), n);
        assert_eq!(o.get("k4999").unwrap().last(), &Json::String("last".into()));
    }
}
