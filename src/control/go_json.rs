//! JSON read the way flanneld's Go `encoding/json` reads it into a struct:
//! object keys match field names case-insensitively, keys are applied in
//! document order so the last one wins, and a `null` leaves a field of a
//! plain type as it was (see docs/control-plane.md for the fields where Go
//! does otherwise). `parse` folds every object to one entry per case-insensitive key
//! (the spelling and value that Go would end up with), so a lookup by
//! name (`schema::field`) sees what flanneld sees.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses `bytes`, folding each object's keys as Go would apply them.
pub fn parse(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Folded>(bytes).map(|f| f.0)
}

struct Folded(Value);

impl<'de> Deserialize<'de> for Folded {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FoldVisitor)
    }
}

struct FoldVisitor;

impl<'de> Visitor<'de> for FoldVisitor {
    type Value = Folded;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Folded, E> {
        Ok(Folded(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Folded, E> {
        Ok(Folded(Value::Number(v.into())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Folded, E> {
        Ok(Folded(Value::Number(v.into())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Folded, E> {
        Number::from_f64(v)
            .map(|n| Folded(Value::Number(n)))
            .ok_or_else(|| E::custom("not a finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Folded, E> {
        Ok(Folded(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Folded, E> {
        Ok(Folded(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Folded, E> {
        Ok(Folded(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Folded, E> {
        Ok(Folded(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Folded, A::Error> {
        let mut v = Vec::new();
        while let Some(Folded(x)) = seq.next_element()? {
            v.push(x);
        }
        Ok(Folded(Value::Array(v)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Folded, A::Error> {
        let mut obj = Map::new();
        while let Some((key, Folded(value))) = entries.next_entry::<String, Folded>()? {
            let earlier = obj.keys().find(|k| k.eq_ignore_ascii_case(&key)).cloned();
            match earlier {
                // Go: null does not change a field already set.
                Some(_) if value.is_null() => {}
                Some(k) => {
                    obj.remove(&k);
                    obj.insert(key, value);
                }
                None => {
                    obj.insert(key, value);
                }
            }
        }
        Ok(Folded(Value::Object(obj)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(json: &str, name: &str) -> Option<Value> {
        let v = parse(json.as_bytes()).unwrap();
        let obj = v.as_object().unwrap();
        let hits: Vec<_> = obj
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .collect();
        assert!(hits.len() <= 1, "folded to one entry: {obj:?}");
        hits.first().map(|(_, v)| (*v).clone())
    }

    /// What Go's encoding/json leaves in a struct field `Network` for
    /// these documents (document order, last key wins, null no effect).
    #[test]
    fn the_last_spelling_in_document_order_wins_as_in_go() {
        let s = |x: &str| Some(Value::String(x.into()));
        assert_eq!(get(r#"{"Network":"a","network":"b"}"#, "Network"), s("b"));
        assert_eq!(get(r#"{"NETWORK":"b","network":"a"}"#, "Network"), s("a"));
        assert_eq!(get(r#"{"network":"a","Network":null}"#, "Network"), s("a"));
        assert_eq!(
            get(r#"{"Network":"a","network":"b","Network":"c"}"#, "Network"),
            s("c")
        );
        assert_eq!(get(r#"{"Network":null}"#, "Network"), Some(Value::Null));
        assert_eq!(get(r#"{"Other":1}"#, "Network"), None);
        // Nested objects fold the same way.
        let v = parse(br#"{"Backend":{"Type":"vxlan"},"backend":{"type":"udp","TYPE":"host-gw"}}"#)
            .unwrap();
        assert_eq!(v["backend"]["TYPE"], Value::String("host-gw".into()));
        assert_eq!(v.as_object().unwrap().len(), 1);
    }

    #[test]
    fn values_and_errors_are_serde_json_s() {
        let v = parse(br#"{"a":[1,-2,2.5,true,null,"x"],"b":{}}"#).unwrap();
        assert_eq!(v, serde_json::json!({"a":[1,-2,2.5,true,null,"x"],"b":{}}));
        assert!(parse(b"{\"a\":").is_err());
        assert!(parse(b"").is_err());
    }
}
