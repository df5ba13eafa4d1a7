//! Which keys each table of `config.toml` takes, read from the serde structs that parse the file
//! (their derived field lists), and the hint for a key written in the wrong table
//! (`timeout = 60` below `[limits]`). A new key or a new table in those structs is known here
//! without a second list to keep in step.
//!
//! It does not parse or validate values: that is `config/mod.rs`.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

/// The keys of one struct, as serde's derive lists them.
type Fields = &'static [&'static str];

/// The tables of a config file read into `T`: `""` for the top level, then each key of `T`
/// whose value is itself a struct (a `[table]`), with the keys each takes. One level deep, as
/// chatd's file is.
pub(super) fn tables<T: DeserializeOwned>() -> Vec<(&'static str, Fields)> {
    let mut top = None;
    let _ = T::deserialize(Probe {
        found: &mut top,
        enter: None,
    });
    let Some(top) = top else {
        return Vec::new();
    };
    let mut tables = vec![("", top)];
    for &key in top {
        let mut inner = None;
        let _ = T::deserialize(Probe {
            found: &mut None,
            enter: Some((key, &mut inner)),
        });
        if let Some(fields) = inner {
            tables.push((key, fields));
        }
    }
    tables
}

/// For a config that failed with "unknown field" at `span`: if that key belongs to another
/// table, says so. Returns `(shown key, value, reason)` for a `file:line: key = value: reason`
/// message, or `None` when the key is unknown everywhere (toml's own message is better then).
pub(super) fn misplaced(
    text: &str,
    span: std::ops::Range<usize>,
    tables: &[(&'static str, Fields)],
) -> Option<(String, String, String)> {
    // toml points at the last part of a dotted key (`limits.timeout`): the line before it
    // holds the rest.
    let key = unquote(text.get(span.clone())?).to_string();
    let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let dotted = text[line_start..span.start].trim();
    if dotted.contains(['=', '{', '[']) {
        return None; // inside an inline table or an array: not a plain key line
    }
    let mut path: Vec<String> = enclosing_table(text, line_start).into_iter().collect();
    path.extend(
        dotted
            .split('.')
            .map(unquote)
            .filter(|p| !p.is_empty())
            .map(str::to_string),
    );
    let table = path.join(".");
    let here = tables.iter().find(|(name, _)| *name == table)?;
    let is_table = tables.iter().any(|(name, _)| *name == key);
    if here.1.contains(&key.as_str()) || is_table {
        return None;
    }
    let homes: Vec<&str> = tables
        .iter()
        .filter(|(_, keys)| keys.contains(&key.as_str()))
        .map(|(name, _)| *name)
        .collect();
    if homes.is_empty() {
        return None;
    }
    // The value as the file has it; the parse as a plain table also confirms where it is.
    let doc: toml::Table = text.parse().ok()?;
    let mut at = &doc;
    for part in &path {
        at = at.get(part)?.as_table()?;
    }
    let value = at.get(&key)?.to_string();
    let places: Vec<String> = homes
        .iter()
        .map(|h| {
            if h.is_empty() {
                "at the top level, above the first [table] line".to_string()
            } else {
                format!("in [{h}]")
            }
        })
        .collect();
    let not_here = if table.is_empty() {
        "not at the top level".to_string()
    } else {
        format!("not in [{table}]")
    };
    let shown = if table.is_empty() {
        key.clone()
    } else {
        format!("{table}.{key}")
    };
    let reason = format!("{key} belongs {}, {not_here}", places.join(" or "));
    Some((shown, value, reason))
}

/// The `[table]` header in force at byte `offset`, if any (top level: `None`).
fn enclosing_table(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let mut current = None;
    for line in before.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix('[').filter(|r| !r.starts_with('[')) {
            if let Some(end) = rest.find(']') {
                let name: Vec<&str> = rest[..end].split('.').map(unquote).collect();
                current = Some(name.join("."));
            }
        }
    }
    current
}

fn unquote(part: &str) -> &str {
    part.trim().trim_matches(|c| c == '"' || c == '\'')
}

/// A deserializer that deserializes nothing: it records the field list a struct hands to
/// `deserialize_struct` and then fails. With `enter`, it instead feeds the struct one key and
/// probes that key's value type into the second slot.
struct Probe<'a> {
    found: &'a mut Option<Fields>,
    enter: Option<(&'static str, &'a mut Option<Fields>)>,
}

fn stop() -> de::value::Error {
    de::Error::custom("probe")
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(stop())
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: Fields,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        // toml's own wrappers (`Spanned`, dates) are values, not tables.
        if name.starts_with("$__") {
            return Err(stop());
        }
        *self.found = Some(fields);
        match self.enter {
            None => Err(stop()),
            Some((key, slot)) => visitor.visit_map(OneKey {
                key: Some(key),
                slot: Some(slot),
            }),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// A map of one key whose value is probed.
struct OneKey<'a> {
    key: Option<&'static str>,
    slot: Option<&'a mut Option<Fields>>,
}

impl<'de> MapAccess<'de> for OneKey<'_> {
    type Error = de::value::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.key.take() {
            Some(key) => seed.deserialize(key.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let slot = self.slot.take().ok_or_else(stop)?;
        seed.deserialize(Probe {
            found: slot,
            enter: None,
        })
    }
}
