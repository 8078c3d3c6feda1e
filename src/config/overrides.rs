//! Presets by name and `dotted.key=value` overrides (CLI `--set`, the page's URL hash), each value parsed as
//! the type its key already has.

use serde_json::Value;

use super::{LabConfig, Preset, PRESETS};
use crate::error::{shorten, LabError};

/// The config of the preset called `name`.
pub fn preset(name: &str) -> Result<LabConfig, LabError> {
    PRESETS.iter().find(|p| p.name == name).map(|p| (p.config)()).ok_or_else(|| LabError::UnknownPreset {
        name: shorten(name),
        known: PRESETS.iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
    })
}

impl LabConfig {
    /// A preset with `key=value` overrides applied, validated.
    pub fn from_preset(name: &str, overrides: &[String]) -> Result<LabConfig, LabError> {
        let mut config = preset(name)?;
        for o in overrides {
            config.set(o)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Applies one `dotted.key=value`, parsing the value as the type the key already has.
    pub fn set(&mut self, assignment: &str) -> Result<(), LabError> {
        let (key, raw) = assignment
            .split_once('=')
            .ok_or_else(|| LabError::Usage(format!("expected key=value, got {assignment:?} (e.g. task.p=23)")))?;
        let (key, raw) = (key.trim(), raw.trim());
        let mut root = serde_json::to_value(&*self).expect("config serializes");
        let mut node = &mut root;
        let mut path = String::new();
        for part in key.split('.') {
            let obj = node.as_object_mut().ok_or_else(|| unknown(key, &path, &Value::Null))?;
            let known = Value::Object(obj.clone());
            if !obj.contains_key(part) {
                return Err(unknown(key, &path, &known));
            }
            node = obj.get_mut(part).expect("checked");
            path = if path.is_empty() { part.to_string() } else { format!("{path}.{part}") };
        }
        *node = match node {
            Value::Bool(_) => match raw {
                "true" | "1" | "on" => Value::Bool(true),
                "false" | "0" | "off" => Value::Bool(false),
                _ => return Err(LabError::invalid(key, raw, "true or false")),
            },
            Value::Number(n) if n.is_u64() => {
                Value::from(raw.parse::<u64>().map_err(|_| LabError::invalid(key, raw, self.count_rule(key)))?)
            }
            Value::Number(_) => {
                let x = raw.parse::<f64>().ok().filter(|x| x.is_finite());
                Value::from(x.ok_or_else(|| LabError::invalid(key, raw, "a finite number"))?)
            }
            Value::String(_) => Value::String(raw.to_string()),
            Value::Object(_) => {
                return Err(LabError::invalid(key, raw, format!("one of its fields, e.g. {key}.<field>=...")))
            }
            _ => unreachable!("config holds no null or array"),
        };
        *self =
            serde_json::from_value(root).map_err(|e| LabError::invalid(key, raw, allowed_for(key, &e.to_string())))?;
        Ok(())
    }

    /// What the validator allows for the count `key`, in its own words, so that `-1` or `2.5` hears the same
    /// rule as `0` or `300`: the rule it names for 0 or for a large count (a range holding neither is not one
    /// the validator has), else only that it is a count.
    fn count_rule(&self, key: &str) -> String {
        for probe in [0u64, 1 << 20] {
            let mut c = self.clone();
            if c.set(&format!("{key}={probe}")).is_ok() {
                if let Err(LabError::Invalid { key: k, allowed, .. }) = c.validate() {
                    if k == key {
                        return allowed;
                    }
                }
            }
        }
        "a whole number >= 0".to_string()
    }

    /// Every key under its dotted path with its value, in order: what `--set` addresses.
    pub fn leaves(&self) -> Vec<(String, Value)> {
        flatten(&serde_json::to_value(self).expect("config serializes"))
    }

    /// The preset this config differs from in the fewest keys (one of its task kind where there is one), and
    /// those keys as `key=value` overrides: `from_preset(name, &overrides)` gives the config back.
    pub fn closest_preset(&self) -> (&'static str, Vec<String>) {
        let leaves = self.leaves();
        let differing = |p: &Preset| -> Vec<String> {
            let theirs = (p.config)().leaves();
            leaves
                .iter()
                .filter(|(key, value)| theirs.iter().find(|(k, _)| k == key).map(|(_, v)| v) != Some(value))
                .map(|(key, value)| match value {
                    Value::String(s) => format!("{key}={s}"),
                    other => format!("{key}={other}"),
                })
                .collect()
        };
        let same_task = |p: &&Preset| (p.config)().task.kind == self.task.kind;
        let candidates: Vec<&Preset> = match PRESETS.iter().filter(same_task).count() {
            0 => PRESETS.iter().collect(),
            _ => PRESETS.iter().filter(same_task).collect(),
        };
        let best = candidates.into_iter().min_by_key(|p| differing(p).len()).expect("there are presets");
        (best.name, differing(best))
    }

    /// Parses a whole config from JSON (a checkpoint's metadata, a saved run), then validates it.
    pub fn from_json(text: &str) -> Result<LabConfig, LabError> {
        let config: LabConfig =
            serde_json::from_str(text).map_err(|e| LabError::Usage(format!("invalid config JSON: {e}")))?;
        config.validate()?;
        Ok(config)
    }
}

/// Every leaf of a JSON object under its dotted path, in order.
fn flatten(value: &Value) -> Vec<(String, Value)> {
    match value {
        Value::Object(o) => o
            .iter()
            .flat_map(|(k, v)| match v {
                Value::Object(_) => flatten(v).into_iter().map(|(sub, leaf)| (format!("{k}.{sub}"), leaf)).collect(),
                _ => vec![(k.clone(), v.clone())],
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn unknown(key: &str, parent: &str, known: &Value) -> LabError {
    let names: Vec<String> = match known {
        Value::Object(o) => {
            o.keys().map(|k| if parent.is_empty() { k.clone() } else { format!("{parent}.{k}") }).collect()
        }
        _ => vec![],
    };
    LabError::UnknownKey { key: shorten(key), known: names.join(", ") }
}

/// Turns serde's "unknown variant `x`, expected one of `a`, `b`" into the allowed list.
fn allowed_for(key: &str, serde_msg: &str) -> String {
    match serde_msg.split_once("expected ") {
        Some((_, rest)) => rest.split(" at line").next().unwrap_or(rest).to_string(),
        None => format!("a valid value for {key} ({serde_msg})"),
    }
}
