//! Where a partner's identifier comes from: a field of the user's profile.
//!
//! Contract: an [`Identities`] source answers, for a batch of users, each user's profile
//! as JSON text (the profile store's `user:<id>:data` `profile` field in the distributed
//! deployment; the traffic model's profiles in the demo). [`field_values`] reads one
//! field of each: a string as it is, a number or a boolean as its JSON text; missing
//! profiles, missing fields and other types are `None` (the change is dead-lettered
//! with that reason).

use serde_json::Value;

/// Looks up users' profiles.
pub trait Identities: Send + Sync {
    /// Each user's profile as JSON text, `None` where there is none.
    fn profiles(&self, users: &[String]) -> Result<Vec<Option<String>>, String>;
}

impl<F> Identities for F
where
    F: Fn(&[String]) -> Result<Vec<Option<String>>, String> + Send + Sync,
{
    fn profiles(&self, users: &[String]) -> Result<Vec<Option<String>>, String> {
        self(users)
    }
}

/// The value of `field` in each profile.
pub fn field_values(profiles: &[Option<String>], field: &str) -> Vec<Option<String>> {
    profiles
        .iter()
        .map(|profile| {
            let value: Value = serde_json::from_str(profile.as_deref()?).ok()?;
            match value.get(field)? {
                Value::String(s) => Some(s.clone()),
                v @ (Value::Number(_) | Value::Bool(_)) => Some(v.to_string()),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_from_profiles_and_gaps_are_none() {
        let profiles = vec![
            Some(r#"{"deviceId": "ABC", "level": 3}"#.to_string()),
            None,
            Some("not json".to_string()),
            Some(r#"{"deviceId": null}"#.to_string()),
        ];
        assert_eq!(field_values(&profiles, "deviceId"), vec![Some("ABC".into()), None, None, None]);
        assert_eq!(field_values(&profiles, "level")[0].as_deref(), Some("3"));
    }
}
